import type { SideEffect } from "@switchboard/protocol";
import type { SwitchboardError } from "../../errors/index.js";
import type { EntityCommand, EntityOutcome } from "../shared/types.js";

/** Where a streamed call stands with the user function. */
export type StreamedCallPhase =
  /** Not sent yet (the entity is activating). */
  | "waiting"
  /** Sent; no reply yet. */
  | "in-flight"
  /** The user function accepted it (`CrdtReply.streamed`); streamed messages may follow. */
  | "open"
  /** `StreamCancelled` sent; waiting for the `stream_cancelled_response`. */
  | "cancelling"
  /** Over: ended, failed, or cancelled and answered. */
  | "done";

/**
 * One server-streamed call to a CRDT entity, as the async iterable of outcomes the router
 * consumes. Outcomes are promises (each resolves once the state changes before it are
 * durable) and are yielded in order. Once the client cancelled, outcomes lose their
 * client action but keep their side effects, which the router still runs; if the
 * consumer has stopped iterating, side effects go to `detached` instead, since nobody
 * else can run them.
 */
export class StreamedCall implements AsyncIterable<EntityOutcome> {
  phase: StreamedCallPhase = "waiting";
  /** The command id on the entity stream, once sent. */
  id: bigint | undefined;
  /** The client cancelled (or the consumer stopped): client actions are dropped from now on. */
  cancelled = false;
  private consumerGone = false;
  private readonly buffer: Promise<EntityOutcome>[] = [];
  private ended = false;
  private failure: SwitchboardError | undefined;
  private wake: (() => void) | undefined;

  constructor(
    readonly command: EntityCommand,
    private readonly detached: (effects: readonly SideEffect[]) => void,
    private readonly onLeave: (call: StreamedCall) => void,
  ) {}

  /** Queues an outcome for the client (after the client cancelled: for its side effects only). */
  emit(outcome: Promise<EntityOutcome>): void {
    // Whatever becomes of it, a rejection here is never "unhandled": the consumer or `detached` deals with it.
    outcome.catch(() => {});
    if (this.ended || this.failure !== undefined) return;
    const shaped = outcome.then((o): EntityOutcome => (this.cancelled ? { clientAction: undefined, sideEffects: o.sideEffects } : o));
    if (this.consumerGone) {
      shaped.then(
        (o) => this.detached(o.sideEffects),
        () => {},
      );
      return;
    }
    // Observed by the consumer, in order; this keeps an unconsumed rejection from being "unhandled".
    shaped.catch(() => {});
    this.buffer.push(shaped);
    this.poke();
  }

  /** Ends the call normally after the queued outcomes. */
  end(): void {
    this.phase = "done";
    this.ended = true;
    this.poke();
  }

  /** Fails the call after the queued outcomes. */
  fail(error: SwitchboardError): void {
    this.phase = "done";
    if (this.ended || this.failure !== undefined) return;
    this.failure = error;
    this.poke();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<EntityOutcome, void, undefined> {
    let finished = false;
    try {
      for (;;) {
        const next = this.buffer.shift();
        if (next !== undefined) {
          yield await next;
          continue;
        }
        if (this.failure !== undefined) throw this.failure;
        if (this.ended) {
          finished = true;
          return;
        }
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } finally {
      if (!finished) {
        // The consumer stopped early (or an outcome failed): what is still queued or to come
        // is only worth its side effects, and the user function must hear of the cancel.
        this.consumerGone = true;
        for (const left of this.buffer.splice(0))
          left.then(
            (o) => this.detached(o.sideEffects),
            () => {},
          );
        if (this.phase !== "done") this.onLeave(this);
      }
    }
  }
}
