import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { v1, v1alpha } from "@switchboard/protocol/reflection";
import type { ServiceModel } from "../../descriptors/service-model.js";
import { Code } from "../../errors/index.js";

type ServerReflectionRequest = v1alpha.ServerReflectionRequest;
type ServerReflectionResponse = v1alpha.ServerReflectionResponse;

/** The reflection service that ListServices names first (docs/protocol.md#server-reflection). */
export const REFLECTION_SERVICE = "grpc.reflection.v1alpha.ServerReflection";

/** gRPC paths of the reflection method, v1alpha and v1 (same messages on the wire). */
export const REFLECTION_PATHS: ReadonlySet<string> = new Set([
  "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
  "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
]);

/** What reflection knows of one service model, built once per model. */
export interface ReflectionIndex {
  /** The ListServices answer: the reflection service, then the entity services sorted. */
  readonly services: readonly string[];
  /** Files by name: encoded descriptor and direct dependencies. */
  readonly files: ReadonlyMap<string, { readonly bytes: Uint8Array; readonly dependencies: readonly string[] }>;
  /** Fully qualified symbol → the name of the file declaring it. */
  readonly symbols: ReadonlyMap<string, string>;
  /** Extended message → extension number → file name. */
  readonly extensions: ReadonlyMap<string, ReadonlyMap<number, string>>;
}

const indexes = new WeakMap<ServiceModel, ReflectionIndex>();

/** The reflection index of a model, built on first use and cached with the model. */
export function reflectionIndexFor(model: ServiceModel): ReflectionIndex {
  let index = indexes.get(model);
  if (index === undefined) {
    index = buildReflectionIndex(model);
    indexes.set(model, index);
  }
  return index;
}

/**
 * Indexes the user function's descriptors (with the imports discovery filled in) and
 * the reflection protocol's own files: every service, method, message, field, oneof,
 * enum, enum value and extension, including nested ones.
 */
export function buildReflectionIndex(model: ServiceModel): ReflectionIndex {
  const files = new Map<string, { bytes: Uint8Array; dependencies: readonly string[] }>();
  const symbols = new Map<string, string>();
  const extensions = new Map<string, Map<number, string>>();
  const protos: FileDescriptorProto[] = [...model.fileSet.file];
  for (const own of [v1alpha.file_grpc_reflection_v1alpha_reflection, v1.file_grpc_reflection_v1_reflection]) {
    if (!protos.some((p) => p.name === own.proto.name)) protos.push(own.proto);
  }
  for (const file of protos) {
    if (files.has(file.name)) continue;
    files.set(file.name, { bytes: toBinary(FileDescriptorProtoSchema, file), dependencies: file.dependency });
    const scope = file.package === "" ? "" : `${file.package}.`;
    const add = (name: string) => {
      if (!symbols.has(name)) symbols.set(name, file.name);
    };
    const addExtension = (field: FieldDescriptorProto, name: string) => {
      add(name);
      const extendee = field.extendee.startsWith(".") ? field.extendee.slice(1) : field.extendee;
      let numbers = extensions.get(extendee);
      if (numbers === undefined) {
        numbers = new Map();
        extensions.set(extendee, numbers);
      }
      if (!numbers.has(field.number)) numbers.set(field.number, file.name);
    };
    const addEnum = (e: EnumDescriptorProto, prefix: string) => {
      add(`${prefix}${e.name}`);
      // Enum values are scoped like siblings of their enum, as in protobuf.
      for (const value of e.value) add(`${prefix}${value.name}`);
    };
    const addMessage = (m: DescriptorProto, prefix: string) => {
      const name = `${prefix}${m.name}`;
      add(name);
      for (const field of m.field) add(`${name}.${field.name}`);
      for (const oneof of m.oneofDecl) add(`${name}.${oneof.name}`);
      for (const nested of m.nestedType) addMessage(nested, `${name}.`);
      for (const e of m.enumType) addEnum(e, `${name}.`);
      for (const ext of m.extension) addExtension(ext, `${name}.${ext.name}`);
    };
    for (const m of file.messageType) addMessage(m, scope);
    for (const e of file.enumType) addEnum(e, scope);
    for (const ext of file.extension) addExtension(ext, `${scope}${ext.name}`);
    for (const service of file.service) {
      add(`${scope}${service.name}`);
      for (const method of service.method) add(`${scope}${service.name}.${method.name}`);
    }
  }
  return { services: [REFLECTION_SERVICE, ...[...model.services.keys()].sort()], files, symbols, extensions };
}

/** Answers the requests of one reflection stream, remembering which files it already sent. */
export interface ReflectionSession {
  /** The response to one request (never throws: unknown names get empty answers). */
  answer(request: ServerReflectionRequest): ServerReflectionResponse;
}

/**
 * Starts a reflection stream over an index, TCK-exact (docs/protocol.md#server-reflection): every
 * response echoes `valid_host` and `original_request`; ListServices ignores its
 * argument; an unknown file, symbol or extension answers an empty
 * FileDescriptorResponse, not an error. A file answer holds the file asked for, then
 * those of its transitive dependencies this stream has not carried yet (as grpc-go does).
 */
export function createReflectionSession(index: ReflectionIndex): ReflectionSession {
  const sent = new Set<string>();
  const withDependencies = (name: string | undefined): Uint8Array[] => {
    if (name === undefined) return [];
    const first = index.files.get(name);
    if (first === undefined) return [];
    const out: Uint8Array[] = [first.bytes];
    sent.add(name);
    const queue = [...first.dependencies];
    const seen = new Set<string>([name]);
    while (queue.length > 0) {
      const next = queue.shift() as string;
      if (seen.has(next)) continue;
      seen.add(next);
      const file = index.files.get(next);
      if (file === undefined) continue;
      if (!sent.has(next)) {
        sent.add(next);
        out.push(file.bytes);
      }
      queue.push(...file.dependencies);
    }
    return out;
  };
  const files = (list: Uint8Array[]) => ({ case: "fileDescriptorResponse" as const, value: { fileDescriptorProto: list } });

  return {
    answer(request) {
      const question = request.messageRequest;
      let messageResponse: MessageInitShape<typeof v1alpha.ServerReflectionResponseSchema>["messageResponse"];
      switch (question.case) {
        case "fileByFilename":
          messageResponse = files(withDependencies(question.value));
          break;
        case "fileContainingSymbol":
          messageResponse = files(withDependencies(index.symbols.get(question.value.replace(/^\./, ""))));
          break;
        case "fileContainingExtension":
          messageResponse = files(
            withDependencies(index.extensions.get(question.value.containingType.replace(/^\./, ""))?.get(question.value.extensionNumber)),
          );
          break;
        case "allExtensionNumbersOfType": {
          const numbers = [...(index.extensions.get(question.value.replace(/^\./, ""))?.keys() ?? [])].sort((a, b) => a - b);
          messageResponse = { case: "allExtensionNumbersResponse", value: { baseTypeName: question.value, extensionNumber: numbers } };
          break;
        }
        case "listServices":
          messageResponse = { case: "listServicesResponse", value: { service: index.services.map((name) => ({ name })) } };
          break;
        default:
          messageResponse = {
            case: "errorResponse",
            value: { errorCode: Code.InvalidArgument, errorMessage: "the reflection request asks nothing (message_request is not set)" },
          };
      }
      return create(v1alpha.ServerReflectionResponseSchema, { validHost: request.host, originalRequest: request, messageResponse });
    },
  };
}
