import {
  createFileRegistry,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  type FileRegistry,
  getOption,
  hasOption,
  ScalarType,
} from "@bufbuild/protobuf";
import type { FileDescriptorSet } from "@bufbuild/protobuf/wkt";
import { type Entity, entity_key as entityKey, legacy_entity_key as legacyEntityKey } from "@switchboard/protocol";
import { type EntityKind, kindOfEntityType } from "../entities/registry.js";
import { normalizeFileSet } from "./file-set.js";
import { deriveHttpRules, type HttpRouteRule } from "./http-rules.js";
import { type ValueEntitySource, valueEntitySourceOf } from "./value-entity-source.js";

/** Call shape of a method, as protobuf-es names it. */
export type MethodKind = DescMethod["methodKind"];

/** A field of the input message that is part of the entity key. */
export interface KeyField {
  readonly number: number;
  readonly name: string;
  readonly scalar: ScalarType;
}

/** One method of an entity service, with what routing needs precomputed. */
export interface MethodModel {
  /** Method name as declared, e.g. `Process`. */
  readonly name: string;
  /** gRPC path, `/<package.Service>/<Method>`. */
  readonly path: string;
  readonly kind: MethodKind;
  readonly input: DescMessage;
  readonly output: DescMessage;
  /** `type.googleapis.com/<input type>`: the type URL of command payloads. */
  readonly inputTypeUrl: string;
  readonly outputTypeUrl: string;
  /** Entity-key fields of the input, in declaration order (empty for actions). */
  readonly keyFields: readonly KeyField[];
  readonly service: EntityServiceModel;
  readonly desc: DescMethod;
  /** The value entity whose changes the method consumes (`(switchboard.eventing).in`), if any. */
  readonly valueEntitySource?: ValueEntitySource;
}

/** One entity service the user function declared. */
export interface EntityServiceModel {
  /** Full service name, e.g. `com.example.Counter`. */
  readonly name: string;
  readonly kind: EntityKind;
  /** The protocol entity type name, as discovered. */
  readonly entityType: string;
  readonly persistenceId: string;
  /** The entity's own passivation timeout (ms), when its spec sets one. */
  readonly passivationTimeoutMs: number | undefined;
  /**
   * The protocol version the user function reported in discovery, when it is not 0.2: the
   * runtime picks the wire of older versions from it (CRDTs before 0.2). Absent: 0.2.
   */
  readonly protocolVersion?: ProtocolVersion;
  /**
   * A value entity whose changes some method consumes (`(switchboard.eventing).in`): its
   * writes are also recorded in the store's change log of its persistence id.
   */
  readonly recordsChanges?: boolean;
  readonly methods: ReadonlyMap<string, MethodModel>;
  readonly desc: DescService;
}

/** A Cloudstate protocol version, as `ServiceInfo` reports it (none reported reads as 0.0). */
export interface ProtocolVersion {
  readonly major: number;
  readonly minor: number;
}

/**
 * The frozen description of what a user function offers, derived once per discovery.
 * Ingress, router and entities read only this.
 */
export interface ServiceModel {
  readonly services: ReadonlyMap<string, EntityServiceModel>;
  /** Methods by gRPC path. */
  readonly methodsByPath: ReadonlyMap<string, MethodModel>;
  /** Every file of the user function's descriptor set (plus filled imports). */
  readonly registry: FileRegistry;
  /** The normalized descriptor set, for reflection. */
  readonly fileSet: FileDescriptorSet;
  /** HTTP routes: google.api.http rules first, then every method's default route. */
  readonly httpRules: readonly HttpRouteRule[];
}

/** Result of {@link buildServiceModel}: the model and warnings, or a fatal error. */
export type BuildModelResult =
  | { readonly model: ServiceModel; readonly warnings: readonly string[]; readonly error?: undefined }
  | { readonly model?: undefined; readonly warnings: readonly string[]; readonly error: string };

const KEY_SCALARS = new Set<ScalarType>([
  ScalarType.STRING,
  ScalarType.INT32,
  ScalarType.INT64,
  ScalarType.UINT32,
  ScalarType.UINT64,
  ScalarType.SINT32,
  ScalarType.SINT64,
  ScalarType.FIXED32,
  ScalarType.FIXED64,
  ScalarType.SFIXED32,
  ScalarType.SFIXED64,
  ScalarType.BOOL,
]);

function isKeyField(field: DescField): boolean {
  return (hasOption(field, entityKey) && getOption(field, entityKey)) || (hasOption(field, legacyEntityKey) && getOption(field, legacyEntityKey));
}

function keyFieldsOf(input: DescMessage): KeyField[] | string {
  const keys: KeyField[] = [];
  for (const field of input.fields) {
    if (!isKeyField(field)) continue;
    if (field.fieldKind !== "scalar" || !KEY_SCALARS.has(field.scalar)) {
      return `entity key field "${input.typeName}.${field.name}" must be a string, integer or bool field`;
    }
    keys.push({ number: field.number, name: field.name, scalar: field.scalar });
  }
  return keys;
}

/** Every method's `(switchboard.eventing).in`, read once, and the value entities consumed. */
interface ValueEntitySources {
  /** The source of each method that has one. */
  readonly byMethod: ReadonlyMap<DescMethod, ValueEntitySource>;
  /** The consumed persistence ids, each with the first method that consumes it. */
  readonly consumed: ReadonlyMap<string, string>;
}

/**
 * The value entities whose changes some method consumes (`(switchboard.eventing).in`); or
 * what is wrong with an option: an `in` without a value entity, or two methods of one
 * consumer group taking the same input type from the same value entity (which of them gets
 * a change would be a guess).
 */
function valueEntitySources(registry: FileRegistry, entities: readonly Entity[]): ValueEntitySources | string {
  const byMethod = new Map<DescMethod, ValueEntitySource>();
  const consumed = new Map<string, string>();
  const takers = new Map<string, string>();
  for (const entity of entities) {
    for (const method of registry.getService(entity.serviceName)?.methods ?? []) {
      const source = valueEntitySourceOf(method);
      if (source === undefined) continue;
      byMethod.set(method, source);
      const name = `${method.parent.typeName}.${method.name}`;
      if (source.persistenceId === "") return `${name}: (switchboard.eventing).in names no value_entity`;
      if (!consumed.has(source.persistenceId)) consumed.set(source.persistenceId, name);
      const group = source.consumerGroup || method.parent.typeName;
      const key = JSON.stringify([group, source.persistenceId, method.input.typeName]);
      const clash = takers.get(key);
      if (clash !== undefined) {
        return `${clash} and ${name} both consume ${method.input.typeName} from value entity "${source.persistenceId}" in consumer group "${group}"; set consumer_group to separate them`;
      }
      takers.set(key, name);
    }
  }
  return { byMethod, consumed };
}

/**
 * Builds the service model from a discovered EntitySpec's descriptor set and entities,
 * checking what the protocol requires of each entity type: the service resolves, keyed
 * kinds have entity keys on every input, and every method has a shape its kind allows
 * (each kind's `checkMethod`, see `entities/registry.ts`). Unknown entity types are fatal.
 * `protocolVersion`, the version the user function reported, is kept on each service when
 * it is not 0.2.
 */
export function buildServiceModel(fileSet: FileDescriptorSet, entities: readonly Entity[], protocolVersion?: ProtocolVersion): BuildModelResult {
  const reported = protocolVersion !== undefined && (protocolVersion.major !== 0 || protocolVersion.minor !== 2) ? { protocolVersion } : {};
  const normalized = normalizeFileSet(fileSet);
  const warnings = [...normalized.warnings];
  if (normalized.error !== undefined) return { warnings, error: normalized.error };
  let registry: FileRegistry;
  try {
    registry = createFileRegistry(normalized.set);
  } catch (error) {
    return { warnings, error: `the descriptor set does not resolve: ${(error as Error).message}` };
  }
  if (entities.length === 0) return { warnings, error: "the user function declared no entities" };

  const sources = valueEntitySources(registry, entities);
  if (typeof sources === "string") return { warnings, error: sources };
  const { consumed } = sources;

  const services = new Map<string, EntityServiceModel>();
  const warnedKeys = new Set<string>();
  const methodsByPath = new Map<string, MethodModel>();
  for (const entity of entities) {
    const module = kindOfEntityType(entity.entityType);
    if (module === undefined) return { warnings, error: `service "${entity.serviceName}" has unknown entity type "${entity.entityType}"` };
    const desc = registry.getService(entity.serviceName);
    if (desc === undefined) return { warnings, error: `service "${entity.serviceName}" is not in the descriptor set` };
    if (services.has(desc.typeName)) return { warnings, error: `service "${entity.serviceName}" is declared twice` };
    if (entity.persistenceId.includes("|")) {
      return {
        warnings,
        error: `service "${entity.serviceName}" has persistence id "${entity.persistenceId}" containing "|", which separates the persistence id from the entity id in journal keys`,
      };
    }
    const strategy = entity.passivationStrategy?.strategy;
    const timeout = strategy?.case === "timeout" ? Number(strategy.value.timeout) : undefined;
    const methods = new Map<string, MethodModel>();
    // Some supports (go-support for CRDTs) send no persistence id: namespace state by service then, so two services never share it.
    const persistenceId = entity.persistenceId !== "" ? entity.persistenceId : desc.typeName;
    const service: EntityServiceModel = {
      name: desc.typeName,
      kind: module.kind,
      entityType: entity.entityType,
      persistenceId,
      passivationTimeoutMs: timeout !== undefined && timeout > 0 ? timeout : undefined,
      ...reported,
      ...(module.kind === "value-entity" && consumed.has(persistenceId) ? { recordsChanges: true } : {}),
      methods,
      desc,
    };
    // Shape rules first (they say more about a wrong entity type than a missing key does).
    for (const method of desc.methods) {
      const rule = module.checkMethod(method);
      if (rule !== undefined) return { warnings, error: `${module.label} ${desc.typeName}.${method.name}: ${rule}` };
    }
    for (const method of desc.methods) {
      const where = `${module.label} ${desc.typeName}.${method.name}`;
      let keyFields: KeyField[] = [];
      if (module.keyed) {
        const keys = keyFieldsOf(method.input);
        if (typeof keys === "string") return { warnings, error: `${where}: ${keys}` };
        if (keys.length === 0) {
          return { warnings, error: `${where}: input ${method.input.typeName} has no field marked (cloudstate.entity_key)` };
        }
        keyFields = keys;
        if (keys.filter((key) => key.scalar === ScalarType.STRING).length > 1 && !warnedKeys.has(method.input.typeName)) {
          warnedKeys.add(method.input.typeName);
          warnings.push(
            `${where}: entity key fields ${keys.map((key) => key.name).join(", ")} are joined with "-", so values containing "-" can name the same entity (("a-b", "c") and ("a", "b-c") are one entity)`,
          );
        }
      }
      const source = sources.byMethod.get(method);
      const model: MethodModel = {
        name: method.name,
        path: `/${desc.typeName}/${method.name}`,
        kind: method.methodKind,
        input: method.input,
        output: method.output,
        inputTypeUrl: `type.googleapis.com/${method.input.typeName}`,
        outputTypeUrl: `type.googleapis.com/${method.output.typeName}`,
        keyFields,
        service,
        desc: method,
        ...(source === undefined ? {} : { valueEntitySource: source }),
      };
      methods.set(method.name, model);
      methodsByPath.set(model.path, model);
    }
    services.set(desc.typeName, service);
  }
  for (const [persistenceId, method] of consumed) {
    if (![...services.values()].some((service) => service.recordsChanges === true && service.persistenceId === persistenceId)) {
      return {
        warnings,
        error: `${method} consumes the changes of value entity "${persistenceId}" ((switchboard.eventing).in.value_entity), but no value entity of this user function has that persistence id`,
      };
    }
  }
  const http = deriveHttpRules(methodsByPath.values());
  warnings.push(...http.warnings);
  return { model: Object.freeze({ services, methodsByPath, registry, fileSet: normalized.set, httpRules: http.rules }), warnings };
}
