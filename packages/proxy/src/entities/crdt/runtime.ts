import { create } from "@bufbuild/protobuf";
import { CommandSchema, Crdt, type CrdtStreamIn, type SideEffect } from "@switchboard/protocol";
import { Code, SwitchboardError } from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import type { ClientStream } from "../../user-function/client.js";
import type { EntityCommand, EntityOutcome, EntityRuntime, EntityRuntimeContext } from "../shared/types.js";
import { type CrdtMessage, commandMessage, initMessage, readCrdtMessage, type StateChange, streamCancelledMessage, writeConsistencyName } from "./codec.js";
import { applyDelta, type CrdtState, initDelta, type Replica, singleNodeReplica } from "./state.js";
import { createStateWriter, type StateWriter } from "./state-writer.js";
import { decodeCrdtState, encodeCrdtState } from "./storage-format.js";
import { StreamedCall } from "./streamed-call.js";

/**
 * What a client sees when the user function answers one of its commands with a top-level
 * `CrdtStreamOut.failure`: the text every entity type gives for a top-level failure
 * (docs/protocol.md#crdt-entities: not the reference proxy's CRDT-specific wording); the user
 * function's description is logged. As in the reference proxy, only that command fails.
 */
export const CRDT_COMMAND_FAILURE = "Unexpected entity failure";

/** The node id of a proxy that is not part of a cluster. Stable, so a restart keeps its CRDT entries. */
export const SINGLE_NODE_ID = "single-node";

/** How long an ended stream may take to be closed by the user function before it is cancelled. */
const CLOSE_GRACE_MS = 2000;

/**
 * The side-effect runner the runtime would like the router to provide on its context
 * (`EntityRuntimeContext.runSideEffects`): it runs the side effects of a
 * `stream_cancelled_response` whose call nobody consumes any more.
 */
type SideEffectRunner = (effects: readonly SideEffect[]) => Promise<void>;

/** Options of {@link createCrdtEntityRuntime} beyond the runtime context. */
export interface CrdtRuntimeOptions {
  /** This proxy as a CRDT replica: node id, clock, members. Default: a single node, {@link SINGLE_NODE_ID}. */
  readonly replica?: Replica;
  /** Runs side effects no call can carry any more (see {@link SideEffectRunner}). Default: the context's, if any. */
  readonly runSideEffects?: SideEffectRunner;
}

/**
 * The runtime of one CRDT entity service (cloudstate.crdt.Crdt/handle): one user-function
 * stream per active entity, opened on its first command with `init` carrying the stored
 * CRDT as a delta from empty. Commands are not serialized: each gets the next command id
 * (1, 2, 3… per stream) and replies are matched by id in whatever order they come. A
 * reply's state action is applied to the proxy's CRDT (its delta checked against the
 * CRDT's type) and made durable before its caller gets the outcome; the proxy sends the
 * user function no delta after `init`, since on one node every change is its own
 * (docs/protocol.md#crdt-entities). Streamed messages, too, are relayed only once every change before
 * them is durable, so no client sees a state a crash could take back.
 *
 * `delete` removes the stored state and closes the stream; the next command starts the
 * entity again, empty. (The reference proxy answers `Entity deleted` until the entity
 * actor passivates, an artefact of Akka's never-reusable deleted keys; with the row gone
 * from the store, a new start is what value entities do too. A cluster build needs a
 * tombstone so that a stale replica cannot bring the old state back.)
 *
 * Server-streamed calls relay every streamed message until `end_stream`. On a client
 * cancel the runtime sends `StreamCancelled`, applies the state action of the
 * `stream_cancelled_response` and keeps the call's iterable open until then, yielding
 * the response's side effects as a last outcome without a client action, which the
 * router runs. If the consumer has already stopped iterating, they go to
 * `runSideEffects` instead. Idle entities are passivated, never while a streamed call is
 * open or being cancelled.
 */
export function createCrdtEntityRuntime(context: EntityRuntimeContext, options: CrdtRuntimeOptions = {}): EntityRuntime {
  const entities = new Map<string, CrdtEntity>();
  /** Store writes an ended activation still has in flight; the next activation of the id reads the store after them. */
  const barriers = new Map<string, Promise<void>>();
  const replica = options.replica ?? singleNodeReplica(SINGLE_NODE_ID);
  const runSideEffects = options.runSideEffects ?? context.runSideEffects;

  const shared: EntityShared = {
    context,
    replica,
    runDetached(effects, logger) {
      if (effects.length === 0) return;
      if (runSideEffects === undefined) {
        logger.warn("side effects of a cancelled streamed call dropped: nobody consumes the call any more", { count: effects.length });
        return;
      }
      runSideEffects(effects).catch((error: unknown) => logger.warn("side effects of a cancelled streamed call failed", { error: (error as Error).message }));
    },
    retire(entity, pendingWrites) {
      if (entities.get(entity.entityId) === entity) entities.delete(entity.entityId);
      context.metrics?.passivated(context.service.kind, context.service.name);
      const barrier = pendingWrites.catch(() => {});
      barriers.set(entity.entityId, barrier);
      void barrier.then(() => {
        if (barriers.get(entity.entityId) === barrier) barriers.delete(entity.entityId);
      });
    },
  };

  const entityFor = (entityId: string): CrdtEntity => {
    let entity = entities.get(entityId);
    if (entity === undefined) {
      entity = new CrdtEntity(shared, entityId);
      entities.set(entityId, entity);
      context.metrics?.activated(context.service.kind, context.service.name);
      entity.start(barriers.get(entityId) ?? Promise.resolve());
    }
    return entity;
  };

  return {
    handle(command) {
      return entityFor(command.entityId).unary(command);
    },
    handleStreamed(command) {
      return entityFor(command.entityId).streamed(command);
    },
    get activeCount() {
      return entities.size;
    },
    async close() {
      const all = [...entities.values()];
      entities.clear();
      await Promise.all(all.map((e) => e.shutdown()));
    },
  };
}

/** What the entities of one runtime share. */
interface EntityShared {
  readonly context: EntityRuntimeContext;
  readonly replica: Replica;
  runDetached(effects: readonly SideEffect[], logger: Logger): void;
  /** The entity no longer takes commands; `pendingWrites` settles when its last store write does. */
  retire(entity: CrdtEntity, pendingWrites: Promise<void>): void;
}

/** Who waits for a command's answer. */
type Caller =
  | { readonly kind: "unary"; resolve(outcome: EntityOutcome): void; reject(error: SwitchboardError): void }
  | { readonly kind: "streamed"; readonly call: StreamedCall };

/** A command sent to the user function and not answered yet. */
interface InFlight {
  readonly command: EntityCommand;
  readonly caller: Caller;
  readonly timer: NodeJS.Timeout;
}

type Phase =
  /** The stream is open and the stored state being read; commands wait. */
  | "activating"
  | "running"
  /** Our side of the stream is closed (delete or passivation); answers to calls in flight still count. */
  | "closing"
  | "stopped";

class CrdtEntity {
  private phase: Phase = "activating";
  private state: CrdtState | undefined;
  private deleted = false;
  private nextId = 1n;
  private stream: ClientStream<CrdtStreamIn> | undefined;
  private readonly waiting: { readonly command: EntityCommand; readonly caller: Caller }[] = [];
  private readonly inFlight = new Map<bigint, InFlight>();
  private readonly open = new Map<bigint, StreamedCall>();
  private readonly cancelling = new Map<bigint, { readonly call: StreamedCall; readonly timer: NodeJS.Timeout }>();
  private readonly writer: StateWriter;
  private idleTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private streamEnded: Promise<void> = Promise.resolve();
  private readonly logger: Logger;
  private readonly where: string;

  constructor(
    private readonly shared: EntityShared,
    readonly entityId: string,
  ) {
    const { context } = shared;
    this.logger = context.logger.child({ entityId });
    this.where = `${context.service.name} (${entityId})`;
    this.writer = createStateWriter(
      () => (this.state === undefined ? undefined : encodeCrdtState(this.state)),
      (bytes) => context.store.putCrdt(context.service.persistenceId, entityId, bytes),
    );
  }

  /** Opens the stream at once and reads the stored state (after `barrier`: the previous activation's writes). */
  start(barrier: Promise<void>): void {
    const { context } = this.shared;
    let markEnded: () => void = () => {};
    this.streamEnded = new Promise((resolve) => {
      markEnded = resolve;
    });
    const stream = context.client.stream(Crdt.method.handle, {
      onMessage: (message) => this.onMessage(readCrdtMessage(message)),
      onEnd: (error) => {
        markEnded();
        this.onStreamEnd(error);
      },
    });
    this.stream = stream;
    this.logger.debug("CRDT entity activating");
    const { persistenceId } = context.service;
    barrier
      .then(() => context.store.getCrdt(persistenceId, this.entityId))
      .then((bytes) => (bytes === undefined ? undefined : decodeCrdtState(bytes, `persistence id "${persistenceId}" entity "${this.entityId}"`)))
      .then(
        (state) => {
          if (this.phase !== "activating") return;
          this.state = state;
          stream.send(initMessage(context.service.name, this.entityId, state === undefined ? undefined : initDelta(state, this.shared.replica)));
          this.phase = "running";
          for (const { command, caller } of this.waiting.splice(0)) this.send(command, caller);
          this.armIdleTimer();
        },
        (reason: unknown) => {
          const error = SwitchboardError.from(reason, Code.Unavailable);
          this.logger.error("CRDT entity activation failed", { error: error.message });
          this.stop(undefined, error, error);
        },
      );
  }

  /** A unary command: resolves with its outcome once its state change is durable. */
  unary(command: EntityCommand): Promise<EntityOutcome> {
    if (this.phase === "stopped" || this.phase === "closing") return Promise.reject(new SwitchboardError("CRDT entity terminated", Code.Unavailable));
    return new Promise((resolve, reject) => {
      const caller: Caller = { kind: "unary", resolve, reject };
      if (this.phase === "activating") {
        const queued = { command, caller };
        this.waiting.push(queued);
        command.signal?.addEventListener(
          "abort",
          () => {
            const index = this.waiting.indexOf(queued);
            if (index < 0) return;
            this.waiting.splice(index, 1);
            reject(new SwitchboardError("call cancelled by the client", Code.Canceled));
          },
          { once: true },
        );
        return;
      }
      this.send(command, caller);
    });
  }

  /** A server-streamed command: outcomes of the reply and of every streamed message, until the stream ends. */
  streamed(command: EntityCommand): AsyncIterable<EntityOutcome> {
    const call = new StreamedCall(
      command,
      (effects) => this.shared.runDetached(effects, this.logger),
      (left) => this.cancel(left),
    );
    if (this.phase === "stopped" || this.phase === "closing") {
      call.fail(new SwitchboardError("CRDT entity terminated", Code.Unavailable));
      return call;
    }
    const caller: Caller = { kind: "streamed", call };
    if (this.phase === "activating") this.waiting.push({ command, caller });
    else this.send(command, caller);
    if (command.signal?.aborted) this.cancel(call);
    else command.signal?.addEventListener("abort", () => this.cancel(call), { once: true });
    return call;
  }

  /** Passivates at shutdown: ends open streamed calls, fails the rest, closes the stream. */
  async shutdown(): Promise<void> {
    if (this.phase === "stopped") return;
    const error = new SwitchboardError("CRDT entity passivated", Code.Unavailable);
    for (const call of this.open.values()) call.end();
    this.open.clear();
    this.stop(undefined, error, error, false);
    await Promise.race([this.streamEnded, new Promise((r) => setTimeout(r, CLOSE_GRACE_MS).unref())]);
  }

  private send(command: EntityCommand, caller: Caller): void {
    this.clearIdleTimer();
    const id = this.nextId++;
    const streamed = caller.kind === "streamed";
    const timer = setTimeout(() => this.onRelayTimeout(id), this.shared.context.relayTimeoutMs);
    this.inFlight.set(id, { command, caller, timer });
    if (caller.kind === "streamed") {
      caller.call.id = id;
      caller.call.phase = "in-flight";
    }
    this.stream?.send(commandMessage(create(CommandSchema, { entityId: this.entityId, id, name: command.method.name, payload: command.payload, streamed })));
  }

  /** The client cancelled a streamed call, or stopped consuming it. */
  private cancel(call: StreamedCall): void {
    if (call.cancelled) return;
    call.cancelled = true;
    if (this.phase === "closing" || this.phase === "stopped") {
      // Our side of the stream is closed: the user function cannot hear of it, and the call ends with the entity.
      if (call.phase === "open") {
        this.open.delete(call.id as bigint);
        call.end();
      }
      return;
    }
    switch (call.phase) {
      case "waiting": {
        const index = this.waiting.findIndex((w) => w.caller.kind === "streamed" && w.caller.call === call);
        if (index >= 0) this.waiting.splice(index, 1);
        call.end();
        return;
      }
      case "open":
        this.sendStreamCancelled(call);
        return;
      default:
        // In flight: StreamCancelled goes out when the reply accepts the stream. Cancelling or done: nothing to do.
        return;
    }
  }

  private sendStreamCancelled(call: StreamedCall): void {
    const id = call.id as bigint;
    this.open.delete(id);
    call.phase = "cancelling";
    const timer = setTimeout(() => this.onCancelTimeout(id), this.shared.context.relayTimeoutMs);
    this.cancelling.set(id, { call, timer });
    this.logger.debug("streamed call cancelled by the client", { commandId: id });
    this.stream?.send(streamCancelledMessage(this.entityId, id));
  }

  private onMessage(message: CrdtMessage): void {
    if (this.phase === "stopped") return;
    this.clearIdleTimer();
    switch (message.kind) {
      case "reply":
        this.onReply(message);
        break;
      case "streamed-message":
        this.onStreamedMessage(message);
        break;
      case "cancelled-response":
        this.onCancelledResponse(message);
        break;
      case "failure":
        this.onFailure(message);
        break;
      case "empty":
        this.protocolViolation(`CRDT entity ${this.where} sent an empty message`, undefined);
        break;
    }
    this.armIdleTimer();
  }

  private onReply(reply: Extract<CrdtMessage, { kind: "reply" }>): void {
    const pending = this.inFlight.get(reply.commandId);
    if (pending === undefined) {
      this.protocolViolation(`CRDT entity ${this.where} replied to unknown command ${reply.commandId}`, undefined);
      return;
    }
    const { caller } = pending;
    if (reply.streamed && caller.kind !== "streamed") {
      this.protocolViolation(`CRDT entity ${this.where} sent a streamed reply to command ${reply.commandId}, which is not a streamed call`, reply.commandId);
      return;
    }
    const version = this.applyChange(reply.change, reply.commandId);
    if (version === undefined) return;
    clearTimeout(pending.timer);
    this.inFlight.delete(reply.commandId);
    const outcome: EntityOutcome = { clientAction: reply.clientAction, sideEffects: reply.sideEffects };
    const durable = this.writer.durable(version).then(() => outcome);
    if (caller.kind === "unary") {
      durable.then(caller.resolve, caller.reject);
      return;
    }
    const { call } = caller;
    call.emit(durable);
    if (!reply.streamed) {
      // The user function answered the streamed call once: the call ends with that answer.
      call.end();
    } else if (this.phase === "closing" && this.deleted) {
      // Accepted after the entity was deleted: nothing more can come for it.
      call.end();
    } else {
      call.phase = "open";
      this.open.set(reply.commandId, call);
      if (call.cancelled) this.sendStreamCancelled(call);
    }
  }

  private onStreamedMessage(message: Extract<CrdtMessage, { kind: "streamed-message" }>): void {
    const call = this.open.get(message.commandId) ?? this.cancelling.get(message.commandId)?.call;
    if (call === undefined) {
      if (message.commandId > 0n && message.commandId < this.nextId) {
        // A call that has ended or been cancelled: a message the user function sent before it knew.
        this.logger.debug("streamed message for a call that is over dropped", { commandId: message.commandId });
        return;
      }
      const text = `CRDT entity ${this.where} sent a streamed message for unknown command ${message.commandId}`;
      this.logger.warn(text);
      this.shared.context.reportError(text);
      return;
    }
    if (message.clientAction !== undefined || message.sideEffects.length > 0) {
      const outcome: EntityOutcome = { clientAction: message.clientAction, sideEffects: message.sideEffects };
      // Relayed once every change the user function made before it is durable.
      call.emit(this.writer.durable().then(() => outcome));
    }
    if (message.endStream && call.phase === "open") {
      this.open.delete(message.commandId);
      call.end();
    }
  }

  private onCancelledResponse(response: Extract<CrdtMessage, { kind: "cancelled-response" }>): void {
    const cancelling = this.cancelling.get(response.commandId);
    // The user function applied the change whatever we think of the id, so apply it too to stay in step.
    const version = this.applyChange(response.change, response.commandId);
    if (version === undefined) return;
    if (cancelling === undefined) {
      const text = `CRDT entity ${this.where} answered a cancellation of command ${response.commandId}, which was not cancelled`;
      this.logger.warn(text);
      this.shared.context.reportError(text);
      this.shared.runDetached(response.sideEffects, this.logger);
      return;
    }
    clearTimeout(cancelling.timer);
    this.cancelling.delete(response.commandId);
    const outcome: EntityOutcome = { clientAction: undefined, sideEffects: response.sideEffects };
    cancelling.call.emit(this.writer.durable(version).then(() => outcome));
    cancelling.call.end();
  }

  private onFailure(failure: Extract<CrdtMessage, { kind: "failure" }>): void {
    const id = failure.commandId;
    if (id === 0n) {
      this.logger.warn("user function reported a CRDT entity failure for no command; ignored", { description: failure.description });
      return;
    }
    this.logger.warn("user function failed a CRDT command", { commandId: id, description: failure.description });
    const error = new SwitchboardError(CRDT_COMMAND_FAILURE, Code.Unknown);
    const pending = this.inFlight.get(id);
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      this.inFlight.delete(id);
      // Behind any change it may observe, like a reply.
      const durable = this.writer.durable().then(() => {
        throw error;
      });
      if (pending.caller.kind === "unary") durable.catch(pending.caller.reject);
      else {
        pending.caller.call.emit(durable);
        pending.caller.call.end();
      }
      return;
    }
    const open = this.open.get(id);
    if (open !== undefined) {
      this.open.delete(id);
      open.fail(error);
      return;
    }
    const cancelling = this.cancelling.get(id);
    if (cancelling !== undefined) {
      clearTimeout(cancelling.timer);
      this.cancelling.delete(id);
      cancelling.call.end();
      return;
    }
    this.logger.warn("failure for an unknown CRDT command ignored", { commandId: id });
  }

  /**
   * Applies a state action to the proxy's CRDT and schedules its write. Returns the
   * version to wait for before answering, or undefined when the action broke the
   * protocol (the entity has stopped).
   */
  private applyChange(change: StateChange | undefined, commandId: bigint): number | undefined {
    if (change === undefined) return this.writer.version;
    if (this.deleted) {
      // The reference proxy's rule: once deleted, the entity stays deleted; later updates are dropped.
      this.logger.debug("state action after delete ignored", { commandId, action: change.kind });
      return this.writer.version;
    }
    if (this.logger.enabled("debug")) {
      // On one node every level is satisfied by the local write; the cluster work maps them to replication.
      this.logger.debug("CRDT state action", { commandId, action: change.kind, writeConsistency: writeConsistencyName(change.writeConsistency) });
    }
    if (change.kind === "delete") {
      this.state = undefined;
      this.deleted = true;
      const version = this.watchWrite(this.writer.changed());
      this.close("deleted");
      return version;
    }
    const applied = applyDelta(this.state, change.delta, this.shared.replica);
    if (applied.kind === "rejected") {
      this.protocolViolation(`CRDT entity ${this.where} sent an invalid delta for command ${commandId}: ${applied.reason}`, commandId);
      return undefined;
    }
    this.state = applied.state;
    return this.watchWrite(this.writer.changed());
  }

  /** A failed write stops the entity: the user function applied a change that is not durable. */
  private watchWrite(version: number): number {
    this.writer.durable(version).catch((reason: unknown) => {
      const error = SwitchboardError.from(reason, Code.Unavailable);
      if (this.phase === "stopped") return;
      this.logger.error("could not persist the CRDT; stopping the entity", { error: error.message });
      this.stop(undefined, new SwitchboardError("Entity terminated", error.code), new SwitchboardError("Entity terminated", error.code));
    });
    return version;
  }

  /**
   * Closes our side of the stream (delete, idle passivation): the entity takes no more
   * commands (the next one starts a new activation), but answers to the calls in flight
   * are still delivered until the user function closes its side.
   */
  private close(reason: "deleted" | "passivated"): void {
    if (this.phase === "closing" || this.phase === "stopped") return;
    this.phase = "closing";
    this.clearIdleTimer();
    this.logger.debug(reason === "deleted" ? "CRDT entity deleted; closing its stream" : "passivating idle CRDT entity");
    this.shared.retire(this, this.writer.durable());
    this.stream?.end();
    this.closeTimer = setTimeout(
      () => {
        this.logger.warn("user function did not close the CRDT entity stream; cancelling it");
        this.finishClosing(true);
      },
      Math.max(CLOSE_GRACE_MS, this.shared.context.relayTimeoutMs),
    );
    this.closeTimer.unref();
  }

  /**
   * The closed entity is over: open streamed calls end normally (the entity is gone, so
   * is what they watched), calls still in flight fail. `cancel` when the user function
   * did not close its side itself.
   */
  private finishClosing(cancel: boolean): void {
    const error = new SwitchboardError(this.deleted ? "Entity deleted" : "CRDT entity passivated", this.deleted ? Code.Unknown : Code.Unavailable);
    for (const call of this.open.values()) call.end();
    this.open.clear();
    this.stop(undefined, error, error, cancel);
  }

  private onStreamEnd(error: SwitchboardError | undefined): void {
    if (this.phase === "stopped") return;
    if (this.phase === "closing") {
      this.finishClosing(false);
      return;
    }
    const reason =
      error === undefined
        ? new SwitchboardError("Unexpected entity termination", Code.Unknown)
        : new SwitchboardError(
            error.code === Code.Unavailable ? error.rawMessage : `Unexpected entity termination: ${error.rawMessage}`,
            error.code === Code.Canceled ? Code.Unavailable : error.code,
          );
    this.logger.warn("CRDT entity stream ended unexpectedly", { error: reason.rawMessage });
    this.stop(undefined, reason, reason);
  }

  private onRelayTimeout(id: bigint): void {
    if (!this.inFlight.has(id)) return;
    const error = new SwitchboardError(
      `the user function did not answer command ${id} of ${this.where} within ${this.shared.context.relayTimeoutMs} ms`,
      Code.DeadlineExceeded,
    );
    this.logger.warn("relay timeout; stopping the CRDT entity", { commandId: id });
    // Its answer may have changed the user function's CRDT; the views can no longer be trusted.
    this.stop(id, error, new SwitchboardError("Entity terminated", Code.Unavailable));
  }

  private onCancelTimeout(id: bigint): void {
    const cancelling = this.cancelling.get(id);
    if (cancelling === undefined) return;
    this.cancelling.delete(id);
    this.logger.warn("the user function did not answer a stream cancellation in time", { commandId: id });
    cancelling.call.end();
    this.armIdleTimer();
  }

  private protocolViolation(message: string, culprit: bigint | undefined): void {
    this.logger.error("protocol violation by the user function", { reason: message });
    this.shared.context.reportError(message);
    this.stop(culprit, new SwitchboardError("Unexpected entity failure", Code.Unknown), new SwitchboardError("Entity terminated", Code.Unknown));
  }

  /**
   * Stops the entity: the call `culprit` fails with `culpritError`, every other call in
   * flight, open or waiting with `otherError`; the stream is cancelled (or, for a clean
   * shutdown, ended) and the entity forgotten.
   */
  private stop(culprit: bigint | undefined, culpritError: SwitchboardError, otherError: SwitchboardError, cancel = true): void {
    if (this.phase === "stopped") return;
    const wasClosing = this.phase === "closing";
    this.phase = "stopped";
    this.clearIdleTimer();
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    if (!wasClosing) this.shared.retire(this, this.writer.durable());
    const failCaller = (caller: Caller, error: SwitchboardError) => {
      if (caller.kind === "unary") caller.reject(error);
      else caller.call.fail(error);
    };
    for (const [id, pending] of this.inFlight) {
      clearTimeout(pending.timer);
      failCaller(pending.caller, id === culprit ? culpritError : otherError);
    }
    this.inFlight.clear();
    for (const { caller } of this.waiting.splice(0)) failCaller(caller, otherError);
    for (const call of this.open.values()) call.fail(otherError);
    this.open.clear();
    for (const { call, timer } of this.cancelling.values()) {
      clearTimeout(timer);
      call.end();
    }
    this.cancelling.clear();
    if (cancel) this.stream?.cancel();
    else this.stream?.end();
    this.logger.debug("CRDT entity stopped");
  }

  private armIdleTimer(): void {
    if (this.idleTimer !== undefined || this.phase !== "running") return;
    if (this.inFlight.size > 0 || this.open.size > 0 || this.cancelling.size > 0 || this.waiting.length > 0) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.phase !== "running") return;
      // Never while a streamed call is open (docs/protocol.md#entity-lifecycle) or anything else is under way.
      if (this.inFlight.size > 0 || this.open.size > 0 || this.cancelling.size > 0 || this.writer.busy) {
        this.armIdleTimer();
        return;
      }
      this.close("passivated");
    }, this.shared.context.passivationTimeoutMs);
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
  }
}
