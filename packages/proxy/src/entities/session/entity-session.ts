import type { DescMessage, DescMethod, MessageShape } from "@bufbuild/protobuf";
import type { Command } from "@switchboard/protocol";
import { Code, SwitchboardError } from "../../errors/index.js";
import type { ClockTimer } from "../../internal/clock.js";
import type { LogFields, Logger } from "../../observability/logger.js";
import type { WriterToken } from "../../store/types.js";
import type { ClientStream, StreamHandlers } from "../../user-function/client.js";
import type { EntityCommand, EntityOutcome, RuntimeEnvironment } from "../shared/types.js";
import { StreamedCall } from "./streamed-call.js";

/**
 * How an entity takes commands: `serial` sends the next command only once the previous
 * one is answered and its state change durable (value and event-sourced entities);
 * `concurrent` sends every command at once, matches replies by id and supports
 * server-streamed calls (CRDT entities).
 */
export type Scheduling = "serial" | "concurrent";

/** How the session reads one message from the user function. */
export type Interpreted =
  | {
      readonly kind: "reply";
      readonly commandId: bigint;
      readonly outcome: EntityOutcome;
      /** Makes the reply's state change durable; the caller is answered by its outcome. */
      readonly persist?: () => Promise<void>;
      /** Close the stream and start again from the store after answering (ES `Failure.restart`). */
      readonly restart?: boolean;
      /** The user function accepted a server-streamed call: streamed messages follow. */
      readonly streamed?: boolean;
      /** The entity deleted itself: close the stream after this reply. */
      readonly deleted?: boolean;
    }
  /** A failure reply: serial sessions stop (a top-level failure), concurrent ones fail only that command. */
  | { readonly kind: "failure"; readonly commandId: bigint; readonly description: string; readonly after?: () => Promise<void> }
  /** A message of an open server-streamed call (`after` resolves once the changes before it are durable). */
  | {
      readonly kind: "streamed";
      readonly commandId: bigint;
      readonly outcome?: EntityOutcome;
      readonly endStream: boolean;
      readonly after: () => Promise<void>;
    }
  /** The user function's answer to `StreamCancelled`. */
  | {
      readonly kind: "cancelled";
      readonly commandId: bigint;
      readonly outcome: EntityOutcome;
      readonly persist?: () => Promise<void>;
      readonly deleted?: boolean;
    }
  /** A broken protocol rule; `culprit` is the command whose reply broke it, if one did. */
  | { readonly kind: "violation"; readonly message: string; readonly culprit?: bigint }
  | { readonly kind: "ignored" };

/** Who waits for a command: for reply checks by the codec. */
export type CallerKind = "unary" | "streamed";

/** The per-activation half of an entity protocol (it may keep state: the ES sequence, the CRDT). */
export interface SessionCodec<In, Out> {
  /**
   * What a new stream gets first: `init`, then (ES) the replayed events, which may come
   * already encoded so a long journal is not turned into message objects. Reads the store.
   */
  open(): Promise<{ readonly messages: readonly In[]; readonly encoded?: readonly Uint8Array[] }>;
  /** Wraps a command for the stream. */
  command(command: Command): In;
  /** `StreamCancelled` for an open server-streamed call (concurrent sessions only). */
  streamCancelled?(commandId: bigint): In;
  /** Interprets a message; `callerOf` says who waits for a command id still in flight. */
  interpret(message: Out, callerOf: (commandId: bigint) => CallerKind | undefined): Interpreted;
  /** Resolves once every change this activation made is durable (default: nothing to wait for). */
  durable?(): Promise<void>;
  /** Whether a change is not durable yet (idle passivation waits for it). */
  readonly busy?: boolean;
}

/** One entity protocol as the session drives it. */
export interface SessionProtocol<I extends DescMessage, O extends DescMessage> {
  /** The protocol's bidi `handle` method. */
  readonly method: DescMethod & { input: I; output: O };
  /** Label used in messages, e.g. `Value entity`. */
  readonly label: string;
  readonly scheduling: Scheduling;
  /** Starts the codec of one activation; its store writes carry `writer`. */
  activate(entityId: string, writer: WriterToken): SessionCodec<MessageShape<I>, MessageShape<O>>;
}

/** How long a closed stream may take to be ended by the user function before it is cancelled. */
export const CLOSE_GRACE_MS = 2000;

type Caller =
  | { readonly kind: "unary"; resolve(outcome: EntityOutcome): void; reject(error: SwitchboardError): void }
  | { readonly kind: "streamed"; readonly call: StreamedCall };

interface Queued {
  readonly command: EntityCommand;
  readonly caller: Caller;
}

interface InFlight extends Queued {
  readonly timer: ClockTimer;
  /** The client's deadline, not the relay timeout, arms the timer. */
  readonly byDeadline: boolean;
}

type Phase =
  /** The stream is open and the stored state being read; commands wait. */
  | "activating"
  | "running"
  /** Our side of the stream is closed (delete, passivation): answers to commands in flight still count. */
  | "closing"
  | "stopped";

/** What a session needs from the runtime that owns it. */
export interface SessionHost {
  readonly context: RuntimeEnvironment;
  /** The session takes no more commands; `writes` settles when its last store write has. */
  retire(session: EntitySession, writes: Promise<void>): void;
  /** The session took or answered a command (recency, for the active-entity cap). */
  touched(session: EntitySession): void;
}

const ONCE = Object.freeze({ once: true });

/** The streamed-call tables of serial sessions, which never have streamed calls: one shared map that stays empty. */
class NoCalls extends Map<bigint, never> {
  override set(): this {
    throw new Error("a serial entity session has no streamed calls");
  }
}
const NO_CALLS = new NoCalls();

const CANCELLED = () => new SwitchboardError("call cancelled by the client", Code.Canceled);

/** What a session's stream reports to: the session, while the stream is its current one. */
interface StreamOwner<O> {
  readonly currentStream: ActivationStream<O> | undefined;
  received(message: O): void;
  streamEnded(error: SwitchboardError | undefined): void;
}

/**
 * The handlers of one user-function stream of a session: one small object per activation
 * (not closures and a promise), since it lives as long as the entity is active. Messages
 * and the end of a stream that is no longer the session's current one are dropped; its
 * end is still noted, for whoever waits for the old stream to close.
 */
class ActivationStream<O> implements StreamHandlers<O> {
  private done = false;
  private waiters: (() => void)[] | undefined;

  constructor(private readonly owner: StreamOwner<O>) {}

  onMessage(message: O): void {
    if (this.owner.currentStream === this) this.owner.received(message);
  }

  onEnd(error: SwitchboardError | undefined): void {
    this.done = true;
    const waiters = this.waiters;
    this.waiters = undefined;
    if (waiters !== undefined) for (const wake of waiters) wake();
    if (this.owner.currentStream === this) this.owner.streamEnded(error);
  }

  /** Resolves once the stream has ended. */
  ended(): Promise<void> {
    if (this.done) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters ??= [];
      this.waiters.push(resolve);
    });
  }
}

/**
 * One active entity: one user-function stream, opened on its first command with the
 * protocol's activation messages. The session owns the lifecycle every entity kind
 * shares: command ids (1, 2, 3… per stream), relay timeouts (or the client's deadline,
 * when sooner), each reply's state change made durable before its caller is answered
 * (and, once started, answered by that write's outcome only), idle passivation, a grace
 * period for closing streams, protocol violations (`reportError`, then stop) and how an
 * unexpected end of the stream is reported. The kind's codec says what activation sends,
 * how a reply reads and what is persisted; the scheduling says how commands overlap.
 */
export class EntitySession<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> implements StreamOwner<MessageShape<O>> {
  private phase: Phase = "activating";
  private codec: SessionCodec<MessageShape<I>, MessageShape<O>>;
  private stream: ClientStream<MessageShape<I>> | undefined;
  /** The handlers of the last stream opened (the current one while `stream` is set). */
  private activation: ActivationStream<MessageShape<O>> | undefined;
  private nextId = 1n;
  private readonly waiting: Queued[] = [];
  private readonly inFlight = new Map<bigint, InFlight>();
  /** Writes of answered commands still under way (serial sessions send nothing meanwhile); made on the first write, dropped when empty. */
  private persisting: Set<Promise<unknown>> | undefined;
  /** Streamed calls (concurrent sessions only: a serial session shares one empty table). */
  private readonly open: Map<bigint, StreamedCall>;
  private readonly cancelling: Map<bigint, { readonly call: StreamedCall; readonly timer: ClockTimer }>;
  private idleTimer: ClockTimer | undefined;
  private closeTimer: ClockTimer | undefined;
  private deleted = false;
  /** Set once passivation or a delete closes the session. */
  private closing: "deleted" | "passivated" | undefined;
  private retired = false;
  /** Made on first use: most entities never log, and a child logger per entity adds up over many. */
  private childLogger: Logger | undefined;

  constructor(
    private readonly protocol: SessionProtocol<I, O>,
    private readonly host: SessionHost,
    readonly entityId: string,
    private readonly writer: WriterToken,
  ) {
    this.codec = protocol.activate(entityId, writer);
    const concurrent = protocol.scheduling === "concurrent";
    this.open = concurrent ? new Map() : (NO_CALLS as Map<bigint, never>);
    this.cancelling = concurrent ? new Map() : (NO_CALLS as Map<bigint, never>);
  }

  /** The handlers of the session's current stream (none while it is between streams). */
  get currentStream(): ActivationStream<MessageShape<O>> | undefined {
    return this.stream === undefined ? undefined : this.activation;
  }

  /** A message on the current stream (called by its handlers only). */
  received(message: MessageShape<O>): void {
    this.onMessage(message);
  }

  /** The current stream ended (called by its handlers only). */
  streamEnded(error: SwitchboardError | undefined): void {
    this.onStreamEnd(error);
  }

  private get logger(): Logger {
    this.childLogger ??= this.host.context.logger.child({ entityId: this.entityId });
    return this.childLogger;
  }

  /** Logs at debug level without making the child logger when debug lines are off. */
  private debug(message: string, fields?: LogFields): void {
    if (this.host.context.logger.enabled("debug")) this.logger.debug(message, fields);
  }

  /** The entity in messages, e.g. `Value entity com.example.Counter (c-1)`. */
  private get where(): string {
    return `${this.protocol.label} ${this.host.context.service.name} (${this.entityId})`;
  }

  private get context(): RuntimeEnvironment {
    return this.host.context;
  }

  /** Whether the session takes commands (it may still be activating). */
  get accepting(): boolean {
    return (this.phase === "activating" || this.phase === "running") && this.closing === undefined;
  }

  /** Whether nothing is under way: no command waiting, in flight or being persisted, no streamed call open. */
  get idle(): boolean {
    return this.quiet && this.persisting === undefined && this.codec.busy !== true;
  }

  /** No command waiting or in flight and no streamed call open or being cancelled (writes may still be under way). */
  private get quiet(): boolean {
    return this.waiting.length === 0 && this.inFlight.size === 0 && this.open.size === 0 && this.cancelling.size === 0;
  }

  /** Opens the stream at once and sends the activation messages after `barrier` (the previous activation's writes). */
  start(barrier: Promise<void>): void {
    this.phase = "activating";
    this.nextId = 1n;
    const activation = new ActivationStream<MessageShape<O>>(this);
    const stream = this.context.client.stream(this.protocol.method, activation);
    this.activation = activation;
    this.stream = stream;
    this.debug("entity activating");
    const codec = this.codec;
    barrier
      .then(() => codec.open())
      .then(
        ({ messages, encoded }) => {
          if (this.stream !== stream || this.phase !== "activating") return;
          for (const message of messages) stream.send(message);
          if (encoded !== undefined) stream.sendEncoded(encoded);
          this.phase = this.closing === undefined ? "running" : "closing";
          this.pump();
        },
        (reason: unknown) => {
          if (this.stream !== stream || this.phase !== "activating") return;
          const error = SwitchboardError.from(reason, Code.Unavailable);
          this.logger.error("entity activation failed", { error: error.message });
          this.stop({ culprit: undefined, culpritError: error, otherError: error, waitingError: error });
        },
      );
  }

  /** A unary command: resolves with its outcome once its state change is durable. */
  handle(command: EntityCommand): Promise<EntityOutcome> {
    if (!this.accepting) return Promise.reject(this.terminated());
    return new Promise((resolve, reject) => {
      const queued: Queued = { command, caller: { kind: "unary", resolve, reject } };
      if (command.signal?.aborted) {
        reject(CANCELLED());
        return;
      }
      this.waiting.push(queued);
      command.signal?.addEventListener(
        "abort",
        () => {
          const index = this.waiting.indexOf(queued);
          if (index < 0) return;
          this.waiting.splice(index, 1);
          reject(CANCELLED());
          this.armIdleTimer();
        },
        ONCE,
      );
      this.host.touched(this);
      this.pump();
    });
  }

  /** A server-streamed command (concurrent sessions): outcomes of the reply and of every streamed message. */
  handleStreamed(command: EntityCommand): AsyncIterable<EntityOutcome> {
    const call = new StreamedCall(
      command,
      (effects) => this.runDetached(effects),
      (left) => this.cancel(left),
    );
    if (!this.accepting || this.codec.streamCancelled === undefined) {
      call.fail(this.terminated());
      return call;
    }
    this.waiting.push({ command, caller: { kind: "streamed", call } });
    this.host.touched(this);
    this.pump();
    if (command.signal?.aborted) this.cancel(call);
    else command.signal?.addEventListener("abort", () => this.cancel(call), { once: true });
    return call;
  }

  /**
   * Passivates gracefully (idle, over the active-entity cap, shard hand-off): takes no
   * more commands, lets what is under way finish, then closes the stream. Resolves once
   * the stream has ended and every write is durable.
   */
  async passivate(): Promise<void> {
    this.close("passivated");
    await this.ended();
  }

  /** Passivates at shutdown: ends open streamed calls, fails the rest, closes the stream. */
  async shutdown(): Promise<void> {
    if (this.phase !== "stopped") {
      const error = new SwitchboardError(`${this.protocol.label} passivated`, Code.Unavailable);
      for (const call of this.open.values()) call.end();
      this.open.clear();
      this.stop({ culprit: undefined, culpritError: error, otherError: error, waitingError: error, cancel: false });
    }
    await this.ended();
  }

  /** Resolves once the stream has ended (or the grace period is over) and every write has settled. */
  private async ended(): Promise<void> {
    await Promise.race([this.activation?.ended() ?? Promise.resolve(), this.sleep(CLOSE_GRACE_MS)]);
    await this.writes();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.context.clock.setTimeout(resolve, ms));
  }

  /** Settles when every write of this session has (never rejects). */
  private writes(): Promise<void> {
    return Promise.allSettled([...(this.persisting ?? []), this.codec.durable?.() ?? Promise.resolve()]).then(() => undefined);
  }

  private terminated(): SwitchboardError {
    return new SwitchboardError(`${this.protocol.label} terminated`, Code.Unavailable);
  }

  private pump(): void {
    if (this.phase === "closing") {
      this.drain();
      return;
    }
    if (this.phase !== "running") return;
    if (this.protocol.scheduling === "concurrent") {
      for (const next of this.waiting.splice(0)) this.send(next);
    } else {
      while (this.inFlight.size === 0 && this.persisting === undefined && this.waiting.length > 0) this.send(this.takeWaiting());
    }
    this.armIdleTimer();
  }

  /** The next waiting command; an emptied queue lets go of its storage (it would stay allocated while the entity idles). */
  private takeWaiting(): Queued {
    const next = this.waiting.shift() as Queued;
    if (this.waiting.length === 0) this.waiting.length = 0;
    return next;
  }

  private send({ command, caller }: Queued): void {
    this.clearIdleTimer();
    if (command.deadline !== undefined && command.deadline <= Date.now()) {
      // The client gave up while the command waited: it never reaches the user function.
      this.fail(caller, new SwitchboardError("deadline exceeded before the entity took the command", Code.DeadlineExceeded));
      return;
    }
    const id = this.nextId++;
    const streamed = caller.kind === "streamed";
    const { relayTimeoutMs } = this.context;
    // Deadlines are absolute wall-clock times (ms since the epoch), as the client sent them.
    const untilDeadline = command.deadline === undefined ? Number.POSITIVE_INFINITY : command.deadline - Date.now();
    const byDeadline = untilDeadline < relayTimeoutMs;
    const timer = this.context.clock.setTimeout(() => this.onRelayTimeout(id), Math.max(0, byDeadline ? untilDeadline : relayTimeoutMs));
    this.inFlight.set(id, { command, caller, timer, byDeadline });
    if (caller.kind === "streamed") {
      caller.call.id = id;
      caller.call.phase = "in-flight";
    }
    // The plain message object `create(CommandSchema, …)` makes, without its reflection (once per command).
    const message: Command = { $typeName: "cloudstate.Command", entityId: this.entityId, id, name: command.method.name, payload: command.payload, streamed };
    this.stream?.send(this.codec.command(message));
  }

  private callerOf = (commandId: bigint): CallerKind | undefined => this.inFlight.get(commandId)?.caller.kind;

  private onMessage(message: MessageShape<O>): void {
    if (this.phase === "stopped") return;
    this.clearIdleTimer();
    const interpreted = this.codec.interpret(message, this.callerOf);
    switch (interpreted.kind) {
      case "reply":
        this.onReply(interpreted);
        break;
      case "failure":
        this.onFailure(interpreted);
        break;
      case "streamed":
        this.onStreamedMessage(interpreted);
        break;
      case "cancelled":
        this.onCancelledResponse(interpreted);
        break;
      case "violation":
        this.protocolViolation(interpreted.message, interpreted.culprit);
        break;
      case "ignored":
        break;
    }
    this.armIdleTimer();
  }

  /** Starts a write and tracks it; a failed write stops the session (the user function applied a change that is not durable). */
  private persist(persist: (() => Promise<void>) | undefined): Promise<void> {
    if (persist === undefined) return Promise.resolve();
    const write = persist();
    this.persisting ??= new Set();
    this.persisting.add(write);
    write.then(
      () => this.forget(write),
      (reason: unknown) => {
        this.forget(write);
        if (this.phase === "stopped") return;
        const error = SwitchboardError.from(reason, Code.Unavailable);
        this.logger.error("could not persist the entity's state; stopping the entity", { error: error.message });
        const terminated = new SwitchboardError("Entity terminated", error.code);
        this.stop({ culprit: undefined, culpritError: terminated, otherError: terminated, waitingError: terminated });
      },
    );
    return write;
  }

  private forget(write: Promise<unknown>): void {
    const persisting = this.persisting;
    if (persisting === undefined) return;
    persisting.delete(write);
    if (persisting.size === 0) this.persisting = undefined;
  }

  private onReply(reply: Extract<Interpreted, { kind: "reply" }>): void {
    const pending = this.inFlight.get(reply.commandId);
    if (pending === undefined) {
      const current = this.protocol.scheduling === "serial" ? ` (in flight: ${[...this.inFlight.keys()].join(", ") || "none"})` : "";
      this.protocolViolation(`${this.where} replied to command ${reply.commandId}, which is not in flight${current}`, undefined);
      return;
    }
    this.context.clock.clearTimeout(pending.timer);
    this.inFlight.delete(reply.commandId);
    const write = this.persist(reply.persist);
    if (reply.deleted === true) this.markDeleted();
    const answer = write.then(() => reply.outcome);
    const { caller } = pending;
    if (caller.kind === "unary") {
      answer.then(caller.resolve, caller.reject);
    } else {
      const { call } = caller;
      call.emit(answer);
      if (reply.streamed !== true || this.deleted) call.end();
      else {
        call.phase = "open";
        this.open.set(reply.commandId, call);
        if (call.cancelled) this.sendStreamCancelled(call);
      }
    }
    this.host.touched(this);
    if (reply.persist === undefined && reply.restart !== true) {
      this.pump();
      return;
    }
    // A serial session sends its next command once this write is done (or restarts first).
    answer.then(
      () => {
        if (reply.restart === true) this.restart();
        else this.pump();
      },
      () => {},
    );
  }

  private onFailure(failure: Extract<Interpreted, { kind: "failure" }>): void {
    const id = failure.commandId;
    if (this.protocol.scheduling === "serial") {
      this.logger.warn("user function reported an entity failure", { commandId: id, description: failure.description });
      const terminated = new SwitchboardError("Entity terminated", Code.Unknown);
      this.stop({
        culprit: this.current(),
        culpritError: new SwitchboardError("Unexpected entity failure", Code.Unknown),
        otherError: terminated,
        waitingError: terminated,
      });
      return;
    }
    if (id === 0n) {
      this.logger.warn("user function reported an entity failure for no command; ignored", { description: failure.description });
      return;
    }
    this.logger.warn("user function failed a command", { commandId: id, description: failure.description });
    const error = new SwitchboardError("Unexpected entity failure", Code.Unknown);
    const pending = this.inFlight.get(id);
    if (pending !== undefined) {
      this.context.clock.clearTimeout(pending.timer);
      this.inFlight.delete(id);
      // Behind any change it may observe, like a reply.
      const failed = (failure.after?.() ?? Promise.resolve()).then(() => {
        throw error;
      });
      if (pending.caller.kind === "unary") failed.catch(pending.caller.reject);
      else {
        pending.caller.call.emit(failed);
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
      this.context.clock.clearTimeout(cancelling.timer);
      this.cancelling.delete(id);
      cancelling.call.end();
      return;
    }
    this.logger.warn("failure for an unknown command ignored", { commandId: id });
  }

  private onStreamedMessage(message: Extract<Interpreted, { kind: "streamed" }>): void {
    const call = this.open.get(message.commandId) ?? this.cancelling.get(message.commandId)?.call;
    if (call === undefined) {
      if (message.commandId > 0n && message.commandId < this.nextId) {
        // A call that has ended or been cancelled: a message the user function sent before it knew.
        this.debug("streamed message for a call that is over dropped", { commandId: message.commandId });
        return;
      }
      const text = `${this.where} sent a streamed message for unknown command ${message.commandId}`;
      this.logger.warn(text);
      this.context.reportError(text);
      return;
    }
    const { outcome } = message;
    if (outcome !== undefined) call.emit(message.after().then(() => outcome));
    if (message.endStream && call.phase === "open") {
      this.open.delete(message.commandId);
      call.end();
    }
  }

  private onCancelledResponse(response: Extract<Interpreted, { kind: "cancelled" }>): void {
    const cancelling = this.cancelling.get(response.commandId);
    const write = this.persist(response.persist);
    if (response.deleted === true) this.markDeleted();
    if (cancelling === undefined) {
      const text = `${this.where} answered a cancellation of command ${response.commandId}, which was not cancelled`;
      this.logger.warn(text);
      this.context.reportError(text);
      this.runDetached(response.outcome.sideEffects);
      return;
    }
    this.context.clock.clearTimeout(cancelling.timer);
    this.cancelling.delete(response.commandId);
    cancelling.call.emit(write.then(() => response.outcome));
    cancelling.call.end();
  }

  private runDetached(effects: EntityOutcome["sideEffects"]): void {
    if (effects.length === 0) return;
    this.context.effects
      .runDetached(effects, `stream cancellation of ${this.where}`)
      .catch((error: unknown) => this.logger.warn("side effects of a cancelled streamed call failed", { error: (error as Error).message }));
  }

  /** The client cancelled a streamed call, or stopped consuming it. */
  private cancel(call: StreamedCall): void {
    if (call.cancelled) return;
    call.cancelled = true;
    if (!this.accepting) {
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
    const timer = this.context.clock.setTimeout(() => this.onCancelTimeout(id), this.context.relayTimeoutMs);
    this.cancelling.set(id, { call, timer });
    this.debug("streamed call cancelled by the client", { commandId: id });
    const message = this.codec.streamCancelled?.(id);
    if (message !== undefined) this.stream?.send(message);
  }

  private onCancelTimeout(id: bigint): void {
    const cancelling = this.cancelling.get(id);
    if (cancelling === undefined) return;
    this.cancelling.delete(id);
    this.logger.warn("the user function did not answer a stream cancellation in time", { commandId: id });
    cancelling.call.end();
    this.armIdleTimer();
  }

  private current(): bigint | undefined {
    return this.inFlight.keys().next().value;
  }

  private onRelayTimeout(id: bigint): void {
    const pending = this.inFlight.get(id);
    if (pending === undefined) return;
    const clientGaveUp = pending.byDeadline;
    const error = clientGaveUp
      ? new SwitchboardError("deadline exceeded", Code.DeadlineExceeded)
      : new SwitchboardError(`the user function did not answer command ${id} of ${this.where} within ${this.context.relayTimeoutMs} ms`, Code.DeadlineExceeded);
    this.logger.warn(clientGaveUp ? "client deadline passed; stopping the entity" : "relay timeout; stopping the entity", { commandId: id });
    // Its answer may have changed the user function's state: this activation can no longer be trusted.
    const terminated = new SwitchboardError("Entity terminated", Code.Unavailable);
    if (clientGaveUp && this.accepting) {
      // Only this client gave up: the commands waiting behind it get a fresh activation instead of an error.
      this.reactivate(id, error, terminated);
      return;
    }
    this.stop({ culprit: id, culpritError: error, otherError: terminated, waitingError: terminated });
  }

  /**
   * Cancels this activation's stream (failing what is in flight: `culprit` with
   * `culpritError`, the others with `otherError`) and starts a new one from the store,
   * once this activation's writes have settled; waiting commands carry over.
   */
  private reactivate(culprit: bigint, culpritError: SwitchboardError, otherError: SwitchboardError): void {
    for (const [id, pending] of this.inFlight) {
      this.context.clock.clearTimeout(pending.timer);
      this.fail(pending.caller, id === culprit ? culpritError : otherError);
    }
    this.inFlight.clear();
    for (const call of this.open.values()) call.fail(otherError);
    this.open.clear();
    for (const { call, timer } of this.cancelling.values()) {
      this.context.clock.clearTimeout(timer);
      call.end();
    }
    this.cancelling.clear();
    this.clearIdleTimer();
    const old = this.stream;
    const writes = this.writes();
    this.stream = undefined;
    old?.cancel();
    this.codec = this.protocol.activate(this.entityId, this.writer);
    this.start(writes);
  }

  private protocolViolation(message: string, culprit: bigint | undefined): void {
    this.logger.error("protocol violation by the user function", { reason: message });
    this.context.reportError(message);
    const terminated = new SwitchboardError("Entity terminated", Code.Unknown);
    this.stop({
      culprit: culprit ?? (this.protocol.scheduling === "serial" ? this.current() : undefined),
      culpritError: new SwitchboardError("Unexpected entity failure", Code.Unknown),
      otherError: terminated,
      waitingError: terminated,
    });
  }

  /** ES `Failure.restart`: close this stream, then re-activate from the store; waiting commands carry over. */
  private restart(): void {
    if (!this.accepting) return;
    const old = this.stream;
    this.stream = undefined;
    this.phase = "activating";
    old?.end();
    const ended = Promise.race([this.activation?.ended() ?? Promise.resolve(), this.sleep(CLOSE_GRACE_MS)]);
    this.codec = this.protocol.activate(this.entityId, this.writer);
    void ended.then(() => {
      if (this.phase === "activating" && this.stream === undefined) this.start(Promise.resolve());
    });
  }

  private markDeleted(): void {
    if (this.deleted) return;
    this.deleted = true;
    this.close("deleted");
  }

  /**
   * Closes our side of the stream (delete, passivation): the entity takes no more
   * commands (the next one starts a new activation), but what is under way still
   * finishes: what waits is sent first (once activation is done), then the stream ends.
   */
  private close(reason: "deleted" | "passivated"): void {
    if (this.phase === "stopped" || this.closing !== undefined) return;
    this.clearIdleTimer();
    this.debug(reason === "deleted" ? "entity deleted; closing its stream" : "passivating the entity");
    this.closing = reason;
    this.retire();
    if (this.phase !== "activating") this.phase = "closing";
    this.drain();
  }

  /** Closing: sends what still waits (one at a time when serial), then ends our side of the stream with a grace period. */
  private drain(): void {
    if (this.phase !== "closing" || this.closeTimer !== undefined) return;
    if (this.deleted) for (const { caller } of this.waiting.splice(0)) this.fail(caller, new SwitchboardError("Entity deleted", Code.Unknown));
    if (this.protocol.scheduling === "concurrent") {
      for (const next of this.waiting.splice(0)) this.send(next);
    } else {
      while (this.inFlight.size === 0 && this.persisting === undefined && this.waiting.length > 0) this.send(this.takeWaiting());
      if (this.waiting.length > 0 || this.inFlight.size > 0) return;
    }
    this.stream?.end();
    this.closeTimer = this.context.clock.setTimeout(
      () => {
        this.logger.warn("user function did not close the entity stream; cancelling it");
        this.finishClosing(true);
      },
      Math.max(CLOSE_GRACE_MS, this.context.relayTimeoutMs),
    );
  }

  private retire(): void {
    if (this.retired) return;
    this.retired = true;
    this.host.retire(this, this.writes());
  }

  /**
   * The closed entity is over: open streamed calls end normally (the entity is gone, so
   * is what they watched), calls still in flight fail. `cancel` when the user function
   * did not close its side itself.
   */
  private finishClosing(cancel: boolean): void {
    const error = new SwitchboardError(this.deleted ? "Entity deleted" : `${this.protocol.label} passivated`, this.deleted ? Code.Unknown : Code.Unavailable);
    for (const call of this.open.values()) call.end();
    this.open.clear();
    this.stop({ culprit: undefined, culpritError: error, otherError: error, waitingError: error, cancel });
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
    if (this.context.stopping?.aborted) this.logger.info("entity stream ended while the proxy stops", { error: reason.rawMessage });
    else this.logger.warn("entity stream ended unexpectedly", { error: reason.rawMessage });
    this.stop({
      culprit: undefined,
      culpritError: reason,
      otherError: reason,
      waitingError: new SwitchboardError("Entity terminated", reason.code),
      cancel: false,
    });
  }

  private fail(caller: Caller, error: SwitchboardError): void {
    if (caller.kind === "unary") caller.reject(error);
    else caller.call.fail(error);
  }

  /**
   * Stops the session: the command `culprit` fails with `culpritError`, the other
   * commands in flight and open streamed calls with `otherError`, those not sent yet with
   * `waitingError`. Commands whose write has started are answered by that write. The
   * stream is cancelled (or, for a clean stop, ended) and the session forgotten.
   */
  private stop(how: {
    culprit: bigint | undefined;
    culpritError: SwitchboardError;
    otherError: SwitchboardError;
    waitingError: SwitchboardError;
    cancel?: boolean;
  }): void {
    if (this.phase === "stopped") return;
    this.phase = "stopped";
    this.clearIdleTimer();
    this.context.clock.clearTimeout(this.closeTimer);
    this.retire();
    for (const [id, pending] of this.inFlight) {
      this.context.clock.clearTimeout(pending.timer);
      this.fail(pending.caller, id === how.culprit ? how.culpritError : how.otherError);
    }
    this.inFlight.clear();
    for (const { caller } of this.waiting.splice(0)) this.fail(caller, how.waitingError);
    for (const call of this.open.values()) call.fail(how.otherError);
    this.open.clear();
    for (const { call, timer } of this.cancelling.values()) {
      this.context.clock.clearTimeout(timer);
      call.end();
    }
    this.cancelling.clear();
    if (how.cancel ?? true) this.stream?.cancel();
    else this.stream?.end();
    this.debug("entity stopped");
  }

  private armIdleTimer(): void {
    if (this.idleTimer !== undefined || this.phase !== "running" || !this.quiet) return;
    this.idleTimer = this.context.clock.setTimeout(() => {
      this.idleTimer = undefined;
      if (this.phase !== "running") return;
      // Never while a streamed call is open or anything else is under way.
      if (!this.idle) {
        this.armIdleTimer();
        return;
      }
      this.close("passivated");
    }, this.context.passivationTimeoutMs);
  }

  private clearIdleTimer(): void {
    this.context.clock.clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}
