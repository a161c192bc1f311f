import { create, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import {
  EntityDiscovery,
  type EntitySpec,
  PROTOCOL_MAJOR_VERSION,
  PROTOCOL_MINOR_VERSION,
  ProxyInfoSchema,
  UserFunctionErrorSchema,
} from "@switchboard/protocol";
import { buildServiceModel, type ServiceModel } from "../descriptors/service-model.js";
import { speaksCrdtBefore02 } from "../entities/crdt/wire-before-0.2.js";
import { ENTITY_KINDS, kindModule } from "../entities/registry.js";
import { Code, SwitchboardError } from "../errors/index.js";
import type { Logger } from "../observability/logger.js";
import type { UserFunctionClient } from "../user-function/client.js";

/** Options of {@link discover}. */
export interface DiscoverOptions {
  client: UserFunctionClient;
  logger: Logger;
  proxyVersion: string;
  /** Check the user function's protocol version. */
  protocolCheck: boolean;
  /** Stops the retry loop. */
  signal: AbortSignal;
  /** First retry delay (ms); doubles up to `maxBackoffMs`. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** A successful discovery. */
export interface Discovered {
  readonly model: ServiceModel;
  readonly spec: EntitySpec;
}

/** A discovery error that retrying cannot fix (the reference proxy stops too). */
export class FatalDiscoveryError extends SwitchboardError {
  constructor(message: string) {
    super(message, Code.FailedPrecondition);
  }
}

/** Sends `message` to the user function's reportError; never throws. */
export async function reportError(client: UserFunctionClient, message: string, logger: Logger): Promise<void> {
  try {
    await client.unary(EntityDiscovery.method.reportError, create(UserFunctionErrorSchema, { message }), { deadline: Date.now() + 5000 });
  } catch (error) {
    logger.debug("reportError could not be delivered", { error: (error as Error).message });
  }
}

/**
 * The EntityDiscovery handshake: calls `discover` (retrying with backoff while the user
 * function is unreachable), checks the protocol version and builds the service model.
 * Spec errors are reported to the user function with `reportError` and thrown as
 * {@link FatalDiscoveryError}.
 */
export async function discover(options: DiscoverOptions): Promise<Discovered> {
  const { client, logger, signal } = options;
  const info = create(ProxyInfoSchema, {
    protocolMajorVersion: PROTOCOL_MAJOR_VERSION,
    protocolMinorVersion: PROTOCOL_MINOR_VERSION,
    proxyName: "switchboard",
    proxyVersion: options.proxyVersion,
    supportedEntityTypes: ENTITY_KINDS.map((module) => module.entityType),
  });
  let delay = options.minBackoffMs ?? 100;
  const maxDelay = options.maxBackoffMs ?? 2000;
  let attempts = 0;
  let spec: EntitySpec;
  for (;;) {
    if (signal.aborted) throw new SwitchboardError("discovery aborted", Code.Canceled);
    try {
      spec = await client.unary(EntityDiscovery.method.discover, info, { deadline: Date.now() + 10_000, signal });
      break;
    } catch (error) {
      attempts++;
      const e = SwitchboardError.from(error);
      if (e.code !== Code.Unavailable && e.code !== Code.DeadlineExceeded && e.code !== Code.Canceled) {
        // The user function answered, but not as a Cloudstate user function can: retrying will not help.
        throw new FatalDiscoveryError(`discover failed at ${client.target}: ${e.rawMessage}`);
      }
      if (attempts === 1 || attempts % 10 === 0) {
        logger.info("waiting for the user function", { target: client.target, attempt: attempts, reason: e.rawMessage });
      }
      const jitter = delay * 0.2 * Math.random();
      await new Promise((resolve) => setTimeout(resolve, delay + jitter));
      delay = Math.min(delay * 2, maxDelay);
    }
  }

  const fatal = async (message: string): Promise<never> => {
    await reportError(client, message, logger);
    throw new FatalDiscoveryError(message);
  };

  const major = spec.serviceInfo?.protocolMajorVersion ?? 0;
  const minor = spec.serviceInfo?.protocolMinorVersion ?? 0;
  const library = `${spec.serviceInfo?.supportLibraryName || "unknown support library"} ${spec.serviceInfo?.supportLibraryVersion ?? ""}`.trim();
  if (major !== PROTOCOL_MAJOR_VERSION || minor !== PROTOCOL_MINOR_VERSION) {
    const text = `Incompatible protocol version ${major}.${minor}, only ${PROTOCOL_MAJOR_VERSION}.${PROTOCOL_MINOR_VERSION} is supported`;
    if (options.protocolCheck && major !== PROTOCOL_MAJOR_VERSION) await fatal(text);
    logger.warn(`${text}; continuing`, { library });
  }

  let fileSet: ReturnType<typeof fromBinary<typeof FileDescriptorSetSchema>>;
  try {
    fileSet = fromBinary(FileDescriptorSetSchema, spec.proto);
  } catch (error) {
    return fatal(`EntitySpec.proto is not a valid FileDescriptorSet: ${(error as Error).message}`);
  }
  const built = buildServiceModel(fileSet, spec.entities, { major, minor });
  for (const warning of built.warnings) logger.warn(warning);
  if (built.error !== undefined) return fatal(built.error);
  const crdtServices = [...built.model.services.values()].filter((service) => service.kind === "crdt").map((service) => service.name);
  if (crdtServices.length > 0 && speaksCrdtBefore02(major, minor)) {
    // The CRDT messages changed in 0.2 (docs/protocol.md#crdts-before-02-java-support-052): speak the older ones.
    logger.info(`${library} reports protocol ${major}.${minor}: its CRDT entities get the CRDT wire from before 0.2`, {
      services: crdtServices.join(","),
    });
  }
  for (const service of built.model.services.values()) {
    const module = kindModule(service.kind);
    if (module.createRuntime === undefined) {
      logger.warn(`${module.label} services are not supported yet by this build; ${service.name} will answer UNIMPLEMENTED`);
    }
  }
  logger.info("discovered the user function", {
    library,
    protocol: `${major}.${minor}`,
    services: [...built.model.services.keys()].join(","),
  });
  return { model: built.model, spec };
}
