/**
 * The mesh forwarder against the mesh server over real HTTP/2 sockets on 127.0.0.1, with
 * a small scripted EntityHost: outcomes, errors, deadline and cancellation propagation,
 * streamed calls, a peer that is down or dies mid-call, reconnecting, bad requests.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyPack, AnySchema, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { ClientActionSchema, SideEffectSchema } from "@switchboard/protocol";
import { mesh } from "@switchboard/protocol/cluster";
import type { EntityOutcome } from "../../entities/shared/types.js";
import { Code, SwitchboardError } from "../../errors/index.js";
import { frameMessage } from "../../internal/grpc-framing.js";
import { silentLogger } from "../../observability/logger.js";
import type { EntityHost, RemoteCommand, RemoteNode } from "../types.js";
import { createMeshForwarder, type MeshServer, startMeshServer } from "./index.js";
import { MESH_PATHS } from "./wire.js";

const text = (s: string) => anyPack(StringValueSchema, create(StringValueSchema, { value: s }));

function replyOf(s: string): EntityOutcome {
  return { clientAction: create(ClientActionSchema, { action: { case: "reply", value: { payload: text(s) } } }), sideEffects: [] };
}

/** Resolves when `signal` aborts, with its reason. */
const aborted = (signal: AbortSignal | undefined) =>
  new Promise<unknown>((resolve) => {
    if (signal === undefined) return;
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener("abort", () => resolve(signal.reason), { once: true });
  });

/** A host whose behaviour each test sets; it records what reached it. */
function scriptedHost() {
  const seen: RemoteCommand[] = [];
  const host = {
    seen,
    handle: async (_command: RemoteCommand): Promise<EntityOutcome> => replyOf("ok"),
    streamed: async function* (_command: RemoteCommand): AsyncIterable<EntityOutcome> {},
  };
  const entityHost: EntityHost = {
    model: () => undefined,
    handle(command) {
      seen.push(command);
      return host.handle(command);
    },
    handleStreamed(command) {
      seen.push(command);
      return host.streamed(command);
    },
    passivate: async () => {},
  };
  return { host, entityHost };
}

const command = (entityId: string, extra: Partial<RemoteCommand> = {}): RemoteCommand => ({
  service: "test.Counter",
  method: "Increment",
  entityId,
  payload: text(`payload-${entityId}`),
  ...extra,
});

/** The reply's text (the payload is a StringValue). */
const replyText = (outcome: EntityOutcome): string => {
  const action = outcome.clientAction?.action;
  assert.equal(action?.case, "reply");
  return fromBinary(StringValueSchema, action.value.payload?.value ?? new Uint8Array()).value;
};

async function rejects(promise: Promise<unknown>, code: Code, pattern: RegExp): Promise<SwitchboardError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SwitchboardError, `a SwitchboardError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.rawMessage, pattern);
    return error;
  }
  assert.fail("expected a rejection");
}

describe("mesh forwarder and server", () => {
  const { host, entityHost } = scriptedHost();
  let server: MeshServer;
  let peer: RemoteNode;
  const forwarder = createMeshForwarder({ logger: silentLogger });

  before(async () => {
    server = await startMeshServer({ host: "127.0.0.1", port: 0, entityHost, logger: silentLogger, maxMessageSize: 64 * 1024 });
    peer = { nodeId: "node-b", address: server.address };
  });
  after(async () => {
    forwarder.close();
    await server.close();
  });

  it("forwards a command and answers with the owner's outcome, side effects included", async () => {
    host.handle = async (c) => ({
      clientAction: create(ClientActionSchema, { action: { case: "reply", value: { payload: text(`done ${c.entityId}`) } } }),
      sideEffects: [create(SideEffectSchema, { serviceName: "test.Other", commandName: "Notify", payload: text("x"), synchronous: true })],
    });
    const outcome = await forwarder.forward(peer, command("e1"));
    assert.equal(replyText(outcome), "done e1");
    assert.equal(outcome.sideEffects.length, 1);
    assert.equal(outcome.sideEffects[0]?.serviceName, "test.Other");
    assert.equal(outcome.sideEffects[0]?.synchronous, true);
    const seen = host.seen.at(-1);
    assert.equal(seen?.service, "test.Counter");
    assert.equal(seen?.method, "Increment");
    assert.equal(seen?.entityId, "e1");
    assert.equal(seen?.payload.typeUrl, "type.googleapis.com/google.protobuf.StringValue");
    assert.equal(seen?.deadline, undefined, "no deadline when the caller set none");
  });

  it("keeps an outcome without a client action", async () => {
    host.handle = async () => ({ clientAction: undefined, sideEffects: [] });
    const outcome = await forwarder.forward(peer, command("e2"));
    assert.equal(outcome.clientAction, undefined);
  });

  it("passes the owner's error code and message through", async () => {
    host.handle = async (c) => {
      throw new SwitchboardError(`test.Counter entity ${c.entityId} is not owned by this node (remote)`, Code.Unavailable);
    };
    await rejects(forwarder.forward(peer, command("e3")), Code.Unavailable, /^test\.Counter entity e3 is not owned by this node/);
    host.handle = async () => {
      throw new Error("boom");
    };
    await rejects(forwarder.forward(peer, command("e3")), Code.Internal, /boom/);
  });

  it("runs many calls at once over one session", async () => {
    host.handle = async (c) => replyOf(c.entityId);
    const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => forwarder.forward(peer, command(`many-${i}`))));
    assert.equal(outcomes.length, 200);
    for (const [i, o] of outcomes.entries()) assert.equal(replyText(o), `many-${i}`);
  });

  it("carries the deadline: the owner sees it, and the caller gets DEADLINE_EXCEEDED while the owner's signal aborts", async () => {
    let ownerSignal: AbortSignal | undefined;
    let ownerDeadline: number | undefined;
    host.handle = (c) => {
      ownerSignal = c.signal;
      ownerDeadline = c.deadline;
      return new Promise(() => {});
    };
    const deadline = Date.now() + 300;
    await rejects(forwarder.forward(peer, command("slow", { deadline })), Code.DeadlineExceeded, /node node-b .* did not answer/);
    assert.ok(ownerDeadline !== undefined, "the owner got a deadline");
    // Both ends measure on their own clock; on one machine they agree within scheduling noise.
    assert.ok(Math.abs(ownerDeadline - deadline) < 250, `owner deadline ${ownerDeadline} vs ${deadline}`);
    const reason = await aborted(ownerSignal);
    assert.ok(reason instanceof SwitchboardError);
  });

  it("an expired deadline is not sent at all", async () => {
    const before = host.seen.length;
    await rejects(forwarder.forward(peer, command("late", { deadline: Date.now() - 1 })), Code.DeadlineExceeded, /before the call/);
    assert.equal(host.seen.length, before);
  });

  it("propagates a client cancel: the caller gets CANCELLED and the owner's signal aborts", async () => {
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    let ownerSignal: AbortSignal | undefined;
    host.handle = (c) => {
      ownerSignal = c.signal;
      started();
      return new Promise(() => {});
    };
    const controller = new AbortController();
    const call = forwarder.forward(peer, command("cancel-me", { signal: controller.signal }));
    await running;
    controller.abort();
    await rejects(call, Code.Canceled, /cancelled/);
    const reason = await aborted(ownerSignal);
    assert.ok(reason instanceof SwitchboardError && reason.code === Code.Canceled, String(reason));
  });

  it("streams outcomes of a server-streamed call in order", async () => {
    host.streamed = async function* (c) {
      for (let i = 0; i < 5; i++) yield replyOf(`${c.entityId}-${i}`);
    };
    const got: string[] = [];
    for await (const outcome of forwarder.forwardStreamed(peer, command("s1"))) got.push(replyText(outcome));
    assert.deepEqual(got, ["s1-0", "s1-1", "s1-2", "s1-3", "s1-4"]);
  });

  it("a streamed call's error after some outcomes reaches the caller after them", async () => {
    host.streamed = async function* () {
      yield replyOf("first");
      throw new SwitchboardError("entity stream broke", Code.Unavailable);
    };
    const got: EntityOutcome[] = [];
    await rejects(
      (async () => {
        for await (const outcome of forwarder.forwardStreamed(peer, command("s2"))) got.push(outcome);
      })(),
      Code.Unavailable,
      /entity stream broke/,
    );
    assert.equal(got.length, 1);
  });

  it("stopping to read a streamed call cancels it on the owner", async () => {
    let ownerSignal: AbortSignal | undefined;
    host.streamed = async function* (c) {
      ownerSignal = c.signal;
      yield replyOf("one");
      await aborted(c.signal);
    };
    for await (const _ of forwarder.forwardStreamed(peer, command("s3"))) break;
    const reason = await aborted(ownerSignal);
    assert.ok(reason instanceof SwitchboardError && reason.code === Code.Canceled);
  });

  it("a client cancel of a streamed call ends it with CANCELLED and aborts the owner's signal", async () => {
    let ownerSignal: AbortSignal | undefined;
    host.streamed = async function* (c) {
      ownerSignal = c.signal;
      yield replyOf("one");
      await aborted(c.signal);
    };
    const controller = new AbortController();
    const got: EntityOutcome[] = [];
    await rejects(
      (async () => {
        for await (const outcome of forwarder.forwardStreamed(peer, command("s4", { signal: controller.signal }))) {
          got.push(outcome);
          controller.abort();
        }
      })(),
      Code.Canceled,
      /cancelled/,
    );
    assert.equal(got.length, 1);
    await aborted(ownerSignal);
  });

  it("a slow reader of a streamed call holds the owner back through flow control, then gets every outcome", async () => {
    const big: EntityOutcome = {
      clientAction: create(ClientActionSchema, {
        action: { case: "reply", value: { payload: create(AnySchema, { typeUrl: "type.googleapis.com/test.Big", value: new Uint8Array(128 * 1024) }) } },
      }),
      sideEffects: [],
    };
    const total = 400;
    let produced = 0;
    host.streamed = async function* () {
      for (let i = 0; i < total; i++) {
        produced++;
        yield big;
      }
    };
    const reader = forwarder.forwardStreamed(peer, command("slow-reader"))[Symbol.asyncIterator]();
    assert.equal((await reader.next()).done, false);
    // Wait until the owner stops making progress: it is blocked on the stream's window.
    let last = -1;
    while (produced !== last && produced < total) {
      last = produced;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(produced < total, `the owner produced all ${total} outcomes for a reader that took one`);
    let count = 1;
    while (!(await reader.next()).done) count++;
    assert.equal(count, total);
  });

  it("refuses an oversized command with RESOURCE_EXHAUSTED and keeps serving", async () => {
    host.handle = async () => replyOf("never");
    const big = create(AnySchema, { typeUrl: "type.googleapis.com/test.Big", value: new Uint8Array(100 * 1024) });
    await rejects(forwarder.forward(peer, command("big", { payload: big })), Code.ResourceExhausted, /exceeds the maximum/);
    host.handle = async () => replyOf("still here");
    await forwarder.forward(peer, command("after-big"));
  });
});

describe("mesh peers that are down or die", () => {
  it("a peer nobody listens on fails UNAVAILABLE naming the node", async () => {
    const forwarder = createMeshForwarder({ logger: silentLogger });
    // Bind and close a server to get a port that is free right now.
    const probe = await startMeshServer({ host: "127.0.0.1", port: 0, entityHost: scriptedHost().entityHost, logger: silentLogger });
    await probe.close();
    const target = { nodeId: "node-gone", address: probe.address };
    await rejects(forwarder.forward(target, command("x")), Code.Unavailable, /node node-gone \(127\.0\.0\.1:\d+\) is unavailable: connection refused/);
    await rejects(
      (async () => {
        for await (const _ of forwarder.forwardStreamed(target, command("x"))) assert.fail("no outcome");
      })(),
      Code.Unavailable,
      /node node-gone/,
    );
    forwarder.close();
  });

  it("calls in flight on a peer that dies fail UNAVAILABLE, never succeed; a restarted peer is reached again", async () => {
    const { host, entityHost } = scriptedHost();
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    host.handle = () => {
      started();
      return new Promise(() => {});
    };
    const server = await startMeshServer({ host: "127.0.0.1", port: 0, entityHost, logger: silentLogger, closeGraceMs: 0 });
    const target = { nodeId: "node-dies", address: server.address };
    const forwarder = createMeshForwarder({ logger: silentLogger });
    const inFlight = forwarder.forward(target, command("in-flight"));
    await running;
    const failed = rejects(inFlight, Code.Unavailable, /node node-dies .* is unavailable: it went away during the call/);
    // closeGraceMs 0: the connection is torn down with the call open, as when the process dies.
    await server.close();
    await failed;

    const port = Number(server.address.split(":").at(-1));
    host.handle = async () => replyOf("back");
    const again = await startMeshServer({ host: "127.0.0.1", port, entityHost, logger: silentLogger });
    const outcome = await forwarder.forward(target, command("after-restart"));
    assert.equal(replyText(outcome), "back");
    forwarder.close();
    await again.close();
  });

  it("a peer closing gracefully lets calls in flight finish; new calls dial again and fail UNAVAILABLE while it is gone", async () => {
    const { host, entityHost } = scriptedHost();
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    let finish!: (outcome: EntityOutcome) => void;
    host.handle = () => {
      started();
      return new Promise((r) => (finish = r));
    };
    const server = await startMeshServer({ host: "127.0.0.1", port: 0, entityHost, logger: silentLogger, closeGraceMs: 30_000 });
    const target = { nodeId: "node-leaving", address: server.address };
    const forwarder = createMeshForwarder({ logger: silentLogger });
    const inFlight = forwarder.forward(target, command("in-flight"));
    await running;
    const closing = server.close();
    // The GOAWAY reaches the caller (Node then closes that session); the next call dials anew.
    await new Promise((r) => setTimeout(r, 100));
    await rejects(forwarder.forward(target, command("new")), Code.Unavailable, /node node-leaving .* is unavailable: connection refused/);
    finish(replyOf("finished"));
    assert.equal(replyText(await inFlight), "finished");
    await closing;
    forwarder.close();
  });

  it("a stream the peer refuses (REFUSED_STREAM, never processed) fails UNAVAILABLE as not delivered, so it can be placed again", async () => {
    // A closing node's HTTP/2 layer refuses streams it did not start; a raw server does it on every stream here.
    const refusing = http2.createServer();
    refusing.on("stream", (stream) => {
      stream.on("error", () => {});
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    });
    await new Promise<void>((resolve) => refusing.listen(0, "127.0.0.1", resolve));
    const { port } = refusing.address() as { port: number };
    const forwarder = createMeshForwarder({ logger: silentLogger });
    await rejects(
      forwarder.forward({ nodeId: "node-refusing", address: `127.0.0.1:${port}` }, command("x")),
      Code.Unavailable,
      /node node-refusing .* is unavailable: the call was not delivered/,
    );
    forwarder.close();
    await new Promise<void>((resolve) => refusing.close(() => resolve()));
  });

  it("closing the forwarder fails its calls in flight with UNAVAILABLE", async () => {
    const { host, entityHost } = scriptedHost();
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    host.handle = () => {
      started();
      return new Promise(() => {});
    };
    const server = await startMeshServer({ host: "127.0.0.1", port: 0, entityHost, logger: silentLogger, closeGraceMs: 0 });
    const forwarder = createMeshForwarder({ logger: silentLogger });
    const inFlight = forwarder.forward({ nodeId: "n", address: server.address }, command("x"));
    await running;
    const failed = rejects(inFlight, Code.Unavailable, /unavailable/);
    forwarder.close();
    await failed;
    await server.close();
  });
});

describe("bad requests on the mesh port", () => {
  let server: MeshServer;
  let session: http2.ClientHttp2Session;
  const { host, entityHost } = scriptedHost();
  before(async () => {
    server = await startMeshServer({ host: "127.0.0.1", port: 0, entityHost, logger: silentLogger, maxMessageSize: 1024 });
    session = http2.connect(`http://${server.address}`);
  });
  after(async () => {
    session.close();
    await server.close();
  });

  /** Sends raw bytes; resolves to the HTTP status, gRPC status and message. */
  function raw(path: string, body: Uint8Array, headers: http2.OutgoingHttpHeaders = {}) {
    return new Promise<{ http: number; code: number | undefined; message: string; body: string }>((resolve, reject) => {
      const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
      let http = 0;
      let code: number | undefined;
      let message = "";
      const chunks: Buffer[] = [];
      const read = (h: http2.IncomingHttpHeaders) => {
        if (h["grpc-status"] !== undefined) code = Number(h["grpc-status"]);
        if (h["grpc-message"] !== undefined) message = decodeURIComponent(String(h["grpc-message"]));
      };
      stream.on("response", (h) => {
        http = Number(h[":status"]);
        read(h);
      });
      stream.on("trailers", read);
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", reject);
      stream.on("close", () => resolve({ http, code, message, body: Buffer.concat(chunks).toString("utf8") }));
      stream.end(body);
    });
  }

  it("answers a message that is not a RemoteCommand with INVALID_ARGUMENT", async () => {
    const r = await raw(MESH_PATHS.handle, frameMessage(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])));
    assert.equal(r.code, Code.InvalidArgument);
    assert.match(r.message, /bad mesh request on \/switchboard\.cluster\.Mesh\/Handle: cannot decode switchboard\.cluster\.RemoteCommand/);
  });

  it("answers an empty body, a truncated frame and two messages with INVALID_ARGUMENT", async () => {
    assert.match((await raw(MESH_PATHS.handle, new Uint8Array())).message, /no request message/);
    assert.match((await raw(MESH_PATHS.handle, new Uint8Array([0, 0, 0, 0, 9, 1]))).message, /truncated request message/);
    const one = frameMessage(toBinary(mesh.RemoteCommandSchema, create(mesh.RemoteCommandSchema, { service: "a", method: "b", payload: {} })));
    const r = await raw(MESH_PATHS.handle, Buffer.concat([one, one]));
    assert.equal(r.code, Code.InvalidArgument);
    assert.match(r.message, /more than one request message/);
  });

  it("answers a command without service or payload with INVALID_ARGUMENT", async () => {
    const r = await raw(MESH_PATHS.handle, frameMessage(toBinary(mesh.RemoteCommandSchema, create(mesh.RemoteCommandSchema, { method: "b" }))));
    assert.equal(r.code, Code.InvalidArgument);
    assert.match(r.message, /the command has no service/);
    const p = await raw(MESH_PATHS.handle, frameMessage(toBinary(mesh.RemoteCommandSchema, create(mesh.RemoteCommandSchema, { service: "a", method: "b" }))));
    assert.match(p.message, /the command has no payload/);
  });

  it("answers an oversized frame with RESOURCE_EXHAUSTED before reading it", async () => {
    const header = Buffer.from([0, 0, 1, 0, 0]); // 65536 bytes announced, over the 1024 limit
    const r = await raw(MESH_PATHS.gossip, header);
    assert.equal(r.code, Code.ResourceExhausted);
    assert.match(r.message, /exceeds the maximum of 1024 bytes/);
  });

  it("answers an unknown method with UNIMPLEMENTED, and gossip without replicas too", async () => {
    const r = await raw("/switchboard.cluster.Mesh/Nope", frameMessage(new Uint8Array()));
    assert.equal(r.code, Code.Unimplemented);
    assert.match(r.message, /unknown mesh method \/switchboard\.cluster\.Mesh\/Nope/);
    const g = await raw(MESH_PATHS.gossip, frameMessage(toBinary(mesh.DeltaBatchSchema, create(mesh.DeltaBatchSchema, { from: "x" }))));
    assert.equal(g.code, Code.Unimplemented);
    assert.match(g.message, /keeps no CRDT replicas/);
  });

  it("answers a bad grpc-timeout with INVALID_ARGUMENT and a non-gRPC request with HTTP 415", async () => {
    const t = await raw(MESH_PATHS.handle, new Uint8Array(), { "grpc-timeout": "soon" });
    assert.equal(t.code, Code.InvalidArgument);
    assert.match(t.message, /invalid grpc-timeout "soon"/);
    const h = await raw(MESH_PATHS.handle, new Uint8Array(), { "content-type": "application/json" });
    assert.equal(h.http, 415);
    assert.match(h.body, /Switchboard cluster port/);
  });

  it("still serves after all of that", async () => {
    host.handle = async () => replyOf("fine");
    const forwarder = createMeshForwarder({ logger: silentLogger });
    await forwarder.forward({ nodeId: "n", address: server.address }, command("fine"));
    forwarder.close();
  });
});
