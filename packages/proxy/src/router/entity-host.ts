import type { EntityHost, Placement, RemoteCommand } from "../cluster/types.js";
import type { MethodModel } from "../descriptors/service-model.js";
import type { EntityCommand, EntityOutcome, EntityRuntime } from "../entities/shared/types.js";
import { Code, SwitchboardError } from "../errors/index.js";
import type { DeploymentSource } from "./types.js";

/** Options of {@link createEntityHost}. */
export interface EntityHostOptions {
  readonly deployments: DeploymentSource;
  readonly placement: Placement;
}

/**
 * This node's entities for the cluster: runs commands other nodes forward here (only
 * when placement says the entity is here, never forwarding again) and passivates
 * entities before their shards are handed over.
 */
export function createEntityHost(options: EntityHostOptions): EntityHost {
  const { deployments, placement } = options;

  async function resolve(remote: RemoteCommand): Promise<{ runtime: EntityRuntime; command: EntityCommand }> {
    const deployment = deployments.current();
    if (deployment === undefined) throw new SwitchboardError("the user function is not discovered yet", Code.Unavailable);
    const method: MethodModel | undefined = deployment.model.services.get(remote.service)?.methods.get(remote.method);
    const runtime = deployment.runtimeFor(remote.service);
    if (method === undefined || runtime === undefined) throw new SwitchboardError(`${remote.service}/${remote.method} is not served here`, Code.Unimplemented);
    // Decide at once, never wait for an owner: a node that does not own the entity refuses it, and the sender places it again.
    const decision = await placement.locate(method.service, remote.entityId, { deadline: Date.now() });
    if (decision.kind !== "local") {
      throw new SwitchboardError(`${remote.service} entity ${remote.entityId} is not owned by this node (${decision.kind})`, Code.Unavailable);
    }
    const command: EntityCommand = {
      method,
      entityId: remote.entityId,
      payload: remote.payload,
      writer: decision.writer,
      ...(remote.signal ? { signal: remote.signal } : {}),
      ...(remote.deadline !== undefined ? { deadline: remote.deadline } : {}),
    };
    return { runtime, command };
  }

  return {
    model: () => deployments.current()?.model,
    async handle(remote): Promise<EntityOutcome> {
      const { runtime, command } = await resolve(remote);
      return runtime.handle(command);
    },
    async *handleStreamed(remote) {
      const { runtime, command } = await resolve(remote);
      if (runtime.handleStreamed === undefined) throw new SwitchboardError(`${remote.service}/${remote.method} takes no streamed calls`, Code.Unimplemented);
      yield* runtime.handleStreamed(command);
    },
    async passivate(select) {
      await deployments.current()?.passivate(select);
    },
  };
}
