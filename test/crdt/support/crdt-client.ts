/**
 * Client helpers for the CRDT end-to-end tests: typed calls to the TCK CRDT model through
 * the proxy, and server-streamed calls that can be read message by message and cancelled.
 */
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { crdt as tck } from "@switchboard/protocol/tck";
import type { CallResult, TestClient } from "../../support/grpc-client.js";

export const PROCESS = "/cloudstate.tck.model.crdt.CrdtTckModel/Process";
export const PROCESS_STREAMED = "/cloudstate.tck.model.crdt.CrdtTckModel/ProcessStreamed";
export const TWO_CALL = "/cloudstate.tck.model.crdt.CrdtTwo/Call";
export const CONFIGURED_CALL = "/cloudstate.tck.model.crdt.CrdtConfigured/Call";

type Action = NonNullable<MessageInitShape<typeof tck.RequestActionSchema>["action"]>;
type UpdateInit = MessageInitShape<typeof tck.UpdateSchema>;

/** Calls `CrdtTckModel.Process` with the given actions. */
export function processCall(client: TestClient, id: string, actions: Action[], path = PROCESS): Promise<CallResult<tck.Response>> {
  return client.unary(path, tck.RequestSchema, tck.ResponseSchema, { id, actions: actions.map((action) => ({ action })) });
}

/** Action builders. */
export const act = {
  update: (update: UpdateInit["update"], writeConsistency = 0): Action => ({ case: "update", value: { update, writeConsistency } as UpdateInit }),
  delete: (): Action => ({ case: "delete", value: {} }),
  forward: (id: string): Action => ({ case: "forward", value: { id } }),
  effect: (id: string, synchronous = false): Action => ({ case: "effect", value: { id, synchronous } }),
  fail: (message: string): Action => ({ case: "fail", value: { message } }),
};

/** The state in a Response, as a compact plain value for assertions. */
export function stateOf(response: tck.Response | undefined): unknown {
  return plain(response?.state);
}

function plain(state: tck.State | undefined): unknown {
  const v = state?.value;
  switch (v?.case) {
    case "gcounter":
    case "pncounter":
      return v.value.value;
    case "gset":
    case "orset":
      return [...v.value.elements];
    case "lwwregister":
      return v.value.value;
    case "flag":
      return v.value.value;
    case "vote":
      return [v.value.selfVote, v.value.votesFor, v.value.totalVoters];
    case "ormap":
      return Object.fromEntries(v.value.entries.map((e) => [e.key, plain(e.value)]));
    default:
      return undefined;
  }
}

/** An open server-streamed call. */
export interface OpenStream {
  /** Every message received so far. */
  readonly messages: tck.Response[];
  /** Resolves with message number `index` (0-based) once it arrived. */
  message(index: number, timeoutMs?: number): Promise<tck.Response>;
  /** Resolves with the final status. */
  readonly status: Promise<grpc.StatusObject>;
  cancel(): void;
}

/** Starts `CrdtTckModel.ProcessStreamed`. */
export function openStream(client: TestClient, request: MessageInitShape<typeof tck.StreamedRequestSchema>): OpenStream {
  const call = client.raw.makeServerStreamRequest(
    PROCESS_STREAMED,
    (v: unknown) =>
      Buffer.from(toBinary(tck.StreamedRequestSchema, create(tck.StreamedRequestSchema, v as MessageInitShape<typeof tck.StreamedRequestSchema>))),
    (b: Buffer) => fromBinary(tck.ResponseSchema, b),
    request,
    new grpc.Metadata(),
  );
  const messages: tck.Response[] = [];
  const waiters = new Set<() => void>();
  call.on("data", (m: tck.Response) => {
    messages.push(m);
    for (const w of waiters) w();
  });
  call.on("error", () => {});
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  return {
    messages,
    status,
    message(index, timeoutMs = 3000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = messages[index];
          if (m === undefined) return false;
          waiters.delete(check as () => void);
          clearTimeout(timer);
          resolve(m);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check as () => void);
          reject(new Error(`streamed message ${index} did not arrive within ${timeoutMs} ms (got ${messages.length})`));
        }, timeoutMs);
        if (!check()) waiters.add(check as () => void);
      });
    },
    cancel: () => call.cancel(),
  };
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
