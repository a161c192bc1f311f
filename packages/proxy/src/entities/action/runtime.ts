import { create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { type ActionCommand, ActionCommandSchema, ActionProtocol, type ActionResponse, type ClientAction } from "@switchboard/protocol";
import { Code, SwitchboardError } from "../../errors/index.js";
import { AsyncQueue } from "../../internal/async-queue.js";
import type { ClientStream } from "../../user-function/client.js";
import type { EntityCommand, EntityOutcome, EntityRuntime, RuntimeEnvironment } from "../shared/types.js";
import { NEVER_ABORTED } from "../../internal/call-signal.js";

/** The ActionCommand of a call, built as the plain message object `create` would make (without its reflection). */
function actionCommand(command: EntityCommand, withPayload: boolean): ActionCommand {
  const entries = command.metadata === undefined || command.metadata.length === 0 ? [] : [...command.metadata];
  const message: ActionCommand = {
    $typeName: "cloudstate.action.ActionCommand",
    serviceName: command.method.service.name,
    name: command.method.name,
    metadata: { $typeName: "cloudstate.Metadata", entries },
  };
  if (withPayload) message.payload = command.payload;
  return message;
}

/** An `ActionResponse` as an entity outcome: its reply, forward or failure, and its side effects. */
function outcomeOf(response: ActionResponse): EntityOutcome {
  const r = response.response;
  const clientAction = r.case === undefined ? undefined : ({ $typeName: "cloudstate.ClientAction", action: r } as ClientAction);
  return { clientAction, sideEffects: response.sideEffects };
}

async function* single<T>(value: T): AsyncIterable<T> {
  yield value;
}

/**
 * The runtime of one Action service (cloudstate.action.ActionProtocol): stateless, so
 * every call is its own user-function call: `handleUnary` for unary methods,
 * `handleStreamedOut` / `handleStreamedIn` / `handleStreamed` for the streaming shapes.
 * Unary calls end at the client's deadline or the relay timeout, whichever is sooner.
 */
export function createActionRuntime(context: RuntimeEnvironment): EntityRuntime {
  const { client, relayTimeoutMs } = context;

  function streamed(command: EntityCommand, requests: AsyncIterable<Any>): AsyncIterable<EntityOutcome> {
    const { method } = command;
    const signal = command.signal ?? NEVER_ABORTED;
    const outcomes = new AsyncQueue<EntityOutcome>();
    let ufDone = false;
    const handlers = {
      onMessage(response: ActionResponse) {
        outcomes.push(outcomeOf(response));
      },
      onEnd(error: SwitchboardError | undefined) {
        ufDone = true;
        if (error) outcomes.fail(signal.aborted ? new SwitchboardError("call cancelled by the client", Code.Canceled) : error);
        else outcomes.end();
      },
    };
    const options = { signal, ...(command.deadline !== undefined ? { deadline: command.deadline } : {}) };
    let stream: ClientStream<ActionCommand>;
    if (method.kind === "server_streaming") {
      stream = client.stream(ActionProtocol.method.handleStreamedOut, handlers, { ...options, first: actionCommand(command, true) });
    } else {
      const rpc = method.kind === "client_streaming" ? ActionProtocol.method.handleStreamedIn : ActionProtocol.method.handleStreamed;
      const duplex = client.stream(rpc as typeof ActionProtocol.method.handleStreamed, handlers, options);
      stream = duplex;
      // The header message goes out as soon as the call starts, before any request.
      duplex.send(actionCommand(command, false));
      void (async () => {
        try {
          for await (const payload of requests) duplex.send(create(ActionCommandSchema, { payload }));
          duplex.end();
        } catch {
          duplex.cancel();
        }
      })();
    }
    return {
      async *[Symbol.asyncIterator]() {
        try {
          yield* outcomes;
        } finally {
          if (!ufDone) stream.cancel();
        }
      },
    };
  }

  return {
    async handle(command) {
      if (command.method.kind !== "unary") {
        for await (const outcome of streamed(command, single(command.payload))) return outcome;
        return { clientAction: undefined, sideEffects: [] };
      }
      // The client's deadline travels on to the user function; the relay timeout is ours alone.
      const response = await client.unary(ActionProtocol.method.handleUnary, actionCommand(command, true), {
        relayDeadline: Date.now() + relayTimeoutMs,
        ...(command.deadline !== undefined ? { deadline: command.deadline } : {}),
        ...(command.signal ? { signal: command.signal } : {}),
      });
      return outcomeOf(response);
    },
    handleStreamed(command, requests) {
      return streamed(command, requests ?? single(command.payload));
    },
    activeCount: 0,
    passivate: () => Promise.resolve(false),
    passivateWhere: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}
