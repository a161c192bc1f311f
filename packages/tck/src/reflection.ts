/**
 * The gRPC server reflection protocol, `grpc.reflection.v1alpha`, as protobuf-es schemas
 * built at run time from a hand-written descriptor: the TCK needs only the request and
 * response messages, and this keeps the package independent of where the reflection protos
 * are generated.
 */
import { create, createFileRegistry, type DescMessage, type DescMethodBiDiStreaming, type DescService } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

const { STRING, MESSAGE, BYTES, INT32 } = FieldDescriptorProto_Type;
const { OPTIONAL, REPEATED } = FieldDescriptorProto_Label;
const PKG = "grpc.reflection.v1alpha";

function field(name: string, number: number, type: FieldDescriptorProto_Type, options: { typeName?: string; repeated?: boolean; oneof?: number } = {}) {
  return {
    name,
    number,
    type,
    label: options.repeated ? REPEATED : OPTIONAL,
    jsonName: name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()),
    ...(options.typeName ? { typeName: `.${PKG}.${options.typeName}` } : {}),
    ...(options.oneof !== undefined ? { oneofIndex: options.oneof } : {}),
  };
}

const file = create(FileDescriptorProtoSchema, {
  name: "grpc/reflection/v1alpha/reflection.proto",
  package: PKG,
  syntax: "proto3",
  messageType: [
    {
      name: "ServerReflectionRequest",
      field: [
        field("host", 1, STRING),
        field("file_by_filename", 3, STRING, { oneof: 0 }),
        field("file_containing_symbol", 4, STRING, { oneof: 0 }),
        field("file_containing_extension", 5, MESSAGE, { typeName: "ExtensionRequest", oneof: 0 }),
        field("all_extension_numbers_of_type", 6, STRING, { oneof: 0 }),
        field("list_services", 7, STRING, { oneof: 0 }),
      ],
      oneofDecl: [{ name: "message_request" }],
    },
    { name: "ExtensionRequest", field: [field("containing_type", 1, STRING), field("extension_number", 2, INT32)] },
    {
      name: "ServerReflectionResponse",
      field: [
        field("valid_host", 1, STRING),
        field("original_request", 2, MESSAGE, { typeName: "ServerReflectionRequest" }),
        field("file_descriptor_response", 4, MESSAGE, { typeName: "FileDescriptorResponse", oneof: 0 }),
        field("all_extension_numbers_response", 5, MESSAGE, { typeName: "ExtensionNumberResponse", oneof: 0 }),
        field("list_services_response", 6, MESSAGE, { typeName: "ListServiceResponse", oneof: 0 }),
        field("error_response", 7, MESSAGE, { typeName: "ErrorResponse", oneof: 0 }),
      ],
      oneofDecl: [{ name: "message_response" }],
    },
    { name: "FileDescriptorResponse", field: [field("file_descriptor_proto", 1, BYTES, { repeated: true })] },
    { name: "ExtensionNumberResponse", field: [field("base_type_name", 1, STRING), field("extension_number", 2, INT32, { repeated: true })] },
    { name: "ListServiceResponse", field: [field("service", 1, MESSAGE, { typeName: "ServiceResponse", repeated: true })] },
    { name: "ServiceResponse", field: [field("name", 1, STRING)] },
    { name: "ErrorResponse", field: [field("error_code", 1, INT32), field("error_message", 2, STRING)] },
  ],
  service: [
    {
      name: "ServerReflection",
      method: [
        {
          name: "ServerReflectionInfo",
          inputType: `.${PKG}.ServerReflectionRequest`,
          outputType: `.${PKG}.ServerReflectionResponse`,
          clientStreaming: true,
          serverStreaming: true,
        },
      ],
    },
  ],
});

const registry = createFileRegistry(file, () => undefined);

function message(name: string): DescMessage {
  const desc = registry.getMessage(`${PKG}.${name}`);
  if (!desc) throw new Error(`reflection descriptor is missing ${name}`);
  return desc;
}

/** `grpc.reflection.v1alpha.ServerReflectionRequest`. */
export const ServerReflectionRequestSchema: DescMessage = message("ServerReflectionRequest");
/** `grpc.reflection.v1alpha.ServerReflectionResponse`. */
export const ServerReflectionResponseSchema: DescMessage = message("ServerReflectionResponse");
/** The `grpc.reflection.v1alpha.ServerReflection` service. */
export const ServerReflection: DescService = registry.getService(`${PKG}.ServerReflection`) as DescService;
/** Its only method, `ServerReflectionInfo` (bidirectional). */
export const ServerReflectionInfo = ServerReflection.methods[0] as DescMethodBiDiStreaming;
