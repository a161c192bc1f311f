import { create, type DescMessage, type DescMethod, type MessageShape } from "@bufbuild/protobuf";
import { type Command, CommandSchema } from "@switchboard/protocol";
import { Code, SwitchboardError } from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import type { ClientStream } from "../../user-function/client.js";
import type { EntityCommand, EntityOutcome, EntityRuntime, EntityRuntimeContext } from "./types.js";

/** How the runtime reads one message from the user function. */
export type Interpreted =
  | {
      readonly kind: "reply";
      readonly commandId: bigint;
      readonly outcome: EntityOutcome;
      /** Makes the reply's state change durable; the caller is answered after it resolves. */
      readonly persist?: () => Promise<void>;
      /** Close the stream and start again from the store after answering (ES `Failure.restart`). */
      readonly restart?: boolean;
    }
  | { readonly kind: "failure"; readonly commandId: bigint; readonly description: string }
  | { readonly kind: "violation"; readonly message: string };

/** The per-activation half of an entity protocol (it may keep state, e.g. the ES sequence). */
export interface SerialCodec<In> {
  /**
   * What a new stream gets first: `init`, then (ES) the replayed events, which may come
   * already encoded so a long journal is not turned into message objects.
   * Reads the store.
   */
  activation(): Promise<{ readonly messages: In[]; readonly encoded?: readonly Uint8Array[] }>;
  /** Wraps a command for the stream. */
  command(command: Command): In;
  /** Interprets a message from the user function. */
  interpret(message: unknown): Interpreted;
}

/** One serialized entity protocol (value entities, event-sourced entities). */
export interface SerialProtocol<I extends DescMessage, O extends DescMessage> {
  /** The protocol's bidi `handle` method. */
  readonly method: DescMethod & { input: I; output: O };
  /** Label used in messages, e.g. `Value entity`. */
  readonly label: string;
  /** Starts a codec for one activation of an entity. */
  codec(entityId: string): SerialCodec<MessageShape<I>>;
}

interface Pending {
  readonly command: EntityCommand;
  resolve(outcome: EntityOutcome): void;
  reject(error: SwitchboardError): void;
}

/**
 * Runtime for entity types whose commands are processed one at a time (value and
 * event-sourced entities): one user-function stream per active entity, opened on its
 * first command with the protocol's activation messages; command ids 1, 2, 3…; each
 * reply's state change made durable before its caller is answered; idle passivation;
 * a top-level failure or protocol violation stops the entity and fails its callers,
 * and the next command starts it again from the store.
 */
export function createSerialRuntime<I extends DescMessage, O extends DescMessage>(
  protocol: SerialProtocol<I, O>,
  context: EntityRuntimeContext,
): EntityRuntime {
  const entities = new Map<string, SerialEntity<I, O>>();
  return {
    handle(command) {
      let entity = entities.get(command.entityId);
      if (entity === undefined) {
        entity = new SerialEntity(protocol, context, command.entityId, (e) => {
          if (entities.get(e.entityId) === e) entities.delete(e.entityId);
          context.metrics?.passivated(context.service.kind, context.service.name);
        });
        entities.set(command.entityId, entity);
        context.metrics?.activated(context.service.kind, context.service.name);
        entity.start();
      }
      return entity.enqueue(command);
    },
    get activeCount() {
      return entities.size;
    },
    async close() {
      const all = [...entities.values()];
      entities.clear();
      await Promise.all(all.map((e) => e.passivate()));
    },
    async passivate(entityId) {
      const entity = entities.get(entityId);
      if (entity === undefined) return false;
      entities.delete(entityId);
      await entity.passivate();
      return true;
    },
  };
}

class SerialEntity<I extends DescMessage, O extends DescMessage> {
  private readonly queue: Pending[] = [];
  private current: (Pending & { id: bigint; timer: NodeJS.Timeout }) | undefined;
  private nextId = 1n;
  private stream: ClientStream<MessageShape<I>> | undefined;
  private codec: SerialCodec<MessageShape<I>>;
  private phase: "activating" | "running" | "stopped" = "activating";
  private idleTimer: NodeJS.Timeout | undefined;
  private streamEnded: Promise<void> = Promise.resolve();
  private readonly logger: Logger;

  constructor(
    private readonly protocol: SerialProtocol<I, O>,
    private readonly context: EntityRuntimeContext,
    readonly entityId: string,
    private readonly onStopped: (entity: SerialEntity<I, O>) => void,
  ) {
    this.codec = protocol.codec(entityId);
    this.logger = context.logger.child({ entityId });
  }

  /** Opens the stream and sends the activation messages; commands wait meanwhile. */
  start(): void {
    this.phase = "activating";
    this.nextId = 1n;
    let markEnded: () => void = () => {};
    this.streamEnded = new Promise((resolve) => {
      markEnded = resolve;
    });
    const stream = this.context.client.stream(this.protocol.method, {
      onMessage: (message) => {
        if (this.stream === stream) this.onMessage(message);
      },
      onEnd: (error) => {
        markEnded();
        if (this.stream === stream) this.onStreamEnd(error);
      },
    });
    this.stream = stream;
    this.logger.debug("entity activating");
    this.codec.activation().then(
      ({ messages, encoded }) => {
        if (this.stream !== stream || this.phase === "stopped") return;
        for (const message of messages) stream.send(message);
        if (encoded !== undefined) stream.sendEncoded(encoded);
        this.phase = "running";
        this.pump();
      },
      (reason: unknown) => {
        if (this.stream !== stream) return;
        const error = SwitchboardError.from(reason, Code.Unavailable);
        this.logger.error("entity activation failed", { error: error.message });
        this.stop(error, error, true);
      },
    );
  }

  enqueue(command: EntityCommand): Promise<EntityOutcome> {
    if (this.phase === "stopped") return Promise.reject(new SwitchboardError(`${this.protocol.label} terminated`, Code.Unavailable));
    return new Promise((resolve, reject) => {
      const pending: Pending = { command, resolve, reject };
      this.queue.push(pending);
      command.signal?.addEventListener(
        "abort",
        () => {
          const index = this.queue.indexOf(pending);
          if (index >= 0) {
            this.queue.splice(index, 1);
            reject(new SwitchboardError("call cancelled by the client", Code.Canceled));
          }
        },
        { once: true },
      );
      this.pump();
    });
  }

  /** Closes the stream gracefully (idle passivation or shutdown) and waits for its end. */
  async passivate(): Promise<void> {
    if (this.phase === "stopped") return;
    this.stop(undefined, new SwitchboardError(`${this.protocol.label} passivated`, Code.Unavailable), false);
    await Promise.race([this.streamEnded, new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  private pump(): void {
    if (this.phase !== "running" || this.current !== undefined) return;
    const next = this.queue.shift();
    if (next === undefined) {
      this.armIdleTimer();
      return;
    }
    this.clearIdleTimer();
    const id = this.nextId++;
    const timer = setTimeout(() => this.onRelayTimeout(id), this.context.relayTimeoutMs);
    this.current = { ...next, id, timer };
    const command = create(CommandSchema, {
      entityId: this.entityId,
      id,
      name: next.command.method.name,
      payload: next.command.payload,
    });
    this.stream?.send(this.codec.command(command));
  }

  private onMessage(message: MessageShape<O>): void {
    this.clearIdleTimer();
    const interpreted = this.codec.interpret(message);
    const current = this.current;
    if (interpreted.kind === "violation") {
      this.protocolViolation(interpreted.message);
      return;
    }
    if (interpreted.kind === "failure") {
      this.logger.warn("user function reported an entity failure", { commandId: interpreted.commandId, description: interpreted.description });
      const error = new SwitchboardError("Unexpected entity failure", Code.Unknown);
      this.stop(error, new SwitchboardError("Entity terminated", Code.Unknown), true);
      return;
    }
    if (current === undefined || interpreted.commandId !== current.id) {
      this.protocolViolation(
        `${this.protocol.label} ${this.context.service.name} (${this.entityId}) replied to command ${interpreted.commandId}, but the command in flight is ${current?.id ?? "none"}`,
      );
      return;
    }
    clearTimeout(current.timer);
    const deliver = () => {
      if (this.current !== current) return;
      this.current = undefined;
      current.resolve(interpreted.outcome);
      if (interpreted.restart === true) this.restart();
      else this.pump();
    };
    if (interpreted.persist === undefined) {
      deliver();
      return;
    }
    interpreted.persist().then(deliver, (reason: unknown) => {
      if (this.current !== current) return;
      const error = SwitchboardError.from(reason, Code.Unavailable);
      this.logger.error("could not persist the entity's state; stopping the entity", { error: error.message });
      // The user function already applied the change in memory: start it again from the store.
      this.stop(error, new SwitchboardError("Entity terminated", error.code), true);
    });
  }

  private onStreamEnd(error: SwitchboardError | undefined): void {
    if (this.phase === "stopped") return;
    const reason =
      error === undefined
        ? new SwitchboardError("Unexpected entity termination", Code.Unknown)
        : new SwitchboardError(
            error.code === Code.Unavailable ? error.rawMessage : `Unexpected entity termination: ${error.rawMessage}`,
            error.code === Code.Canceled ? Code.Unavailable : error.code,
          );
    this.logger.warn("entity stream ended unexpectedly", { error: reason.rawMessage });
    this.stop(reason, new SwitchboardError("Entity terminated", reason.code), false);
  }

  private onRelayTimeout(id: bigint): void {
    if (this.current?.id !== id) return;
    const error = new SwitchboardError(
      `the user function did not answer command ${id} of ${this.context.service.name} (${this.entityId}) within ${this.context.relayTimeoutMs} ms`,
      Code.DeadlineExceeded,
    );
    this.logger.warn("relay timeout; stopping the entity", { commandId: id });
    this.stop(error, new SwitchboardError("Entity terminated", Code.Unavailable), true);
  }

  private protocolViolation(message: string): void {
    this.logger.error("protocol violation by the user function", { reason: message });
    this.context.reportError(message);
    this.stop(new SwitchboardError("Unexpected entity failure", Code.Unknown), new SwitchboardError("Entity terminated", Code.Unknown), true);
  }

  /** ES `Failure.restart`: close this stream, then re-activate from the store; queued commands carry over. */
  private restart(): void {
    const old = this.stream;
    this.stream = undefined;
    this.phase = "activating";
    old?.end();
    const ended = this.streamEnded;
    void Promise.race([ended, new Promise((r) => setTimeout(r, 2000).unref())]).then(() => {
      if (this.phase === "stopped") return;
      this.codec = this.protocol.codec(this.entityId);
      this.start();
    });
  }

  /**
   * Stops the entity: fails the command in flight with `currentError` and the queued
   * ones with `queuedError`, closes (or cancels) the stream and forgets the entity.
   */
  private stop(currentError: SwitchboardError | undefined, queuedError: SwitchboardError, cancel: boolean): void {
    if (this.phase === "stopped") return;
    this.phase = "stopped";
    this.clearIdleTimer();
    this.onStopped(this);
    const current = this.current;
    this.current = undefined;
    if (current) {
      clearTimeout(current.timer);
      current.reject(currentError ?? queuedError);
    }
    for (const pending of this.queue.splice(0)) pending.reject(queuedError);
    const stream = this.stream;
    if (cancel) stream?.cancel();
    else stream?.end();
    this.logger.debug("entity stopped");
  }

  private armIdleTimer(): void {
    if (this.idleTimer !== undefined) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.current === undefined && this.queue.length === 0 && this.phase === "running") {
        this.logger.debug("passivating idle entity");
        void this.passivate();
      }
    }, this.context.passivationTimeoutMs);
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
  }
}
