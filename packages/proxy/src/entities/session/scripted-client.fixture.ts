import type { SwitchboardError } from "../../errors/index.js";
import { Code, SwitchboardError as Err } from "../../errors/index.js";
import type { ClientStream, StreamHandlers, UserFunctionClient } from "../../user-function/client.js";

/** One entity stream as a scripted user function sees it. */
export class ScriptedStream<In = unknown, Out = unknown> {
  readonly received: In[] = [];
  ended = false;
  cancelled = false;
  private waiters: (() => void)[] = [];
  constructor(private readonly handlers: StreamHandlers<Out>) {}
  /** Sends a message to the proxy (on a later microtask, like a socket). */
  reply(message: Out): void {
    queueMicrotask(() => this.handlers.onMessage(message));
  }
  /** Ends the stream from the user function's side. */
  finish(error?: SwitchboardError): void {
    queueMicrotask(() => this.handlers.onEnd(error));
  }
  push(message: In): void {
    this.received.push(message);
    for (const w of this.waiters.splice(0)) w();
  }
  /** Resolves once `count` messages arrived. */
  async receivedCount(count: number): Promise<void> {
    while (this.received.length < count) await new Promise<void>((r) => this.waiters.push(r));
  }
}

/** A user-function client whose entity streams are scripted by the test. */
export function scriptedClient<In, Out>(streams: ScriptedStream<In, Out>[]): UserFunctionClient {
  return {
    target: "scripted",
    unary: () => Promise.reject(new Error("not used")),
    stream(_method, handlers) {
      const peer = new ScriptedStream<In, Out>(handlers as unknown as StreamHandlers<Out>);
      streams.push(peer);
      const stream: ClientStream<In> = {
        send: (m) => peer.push(m),
        sendEncoded: () => {},
        end: () => {
          peer.ended = true;
          peer.finish();
        },
        cancel: () => {
          peer.cancelled = true;
          peer.finish(new Err("call cancelled", Code.Canceled));
        },
      };
      return stream as unknown as ClientStream<never>;
    },
    onChannelEvent: () => () => {},
    close() {},
  };
}
