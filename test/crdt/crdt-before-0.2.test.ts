/**
 * The CRDT wire from before protocol 0.2 through real processes: the proxy CLI in front of a
 * small user function of ours that reports no protocol version (0.0, as java-support 0.5.2)
 * and speaks only the older CRDT messages, as that release does: a whole `CrdtState` in `init`
 * and in `create`, `command` as field 5, whole ORMap entries in `added`. The bytes it receives
 * are checked at the field level, and the state must survive passivation through `init`.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { EntitySpecSchema, ProxyInfoSchema } from "@switchboard/protocol";
import { crdtBefore02 as older } from "@switchboard/protocol/older";
import { crdt as tck } from "@switchboard/protocol/tck";
import { createTestClient, eventually, type TestClient } from "../support/grpc-client.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { act, processCall, stateOf } from "./support/crdt-client.js";
import { CRDT_SERVICES, crdtSpec, packString, unpackString } from "./support/crdt-user-function.js";

/** One stream as the older user function saw it: the raw bytes and what they decode to. */
interface OlderStream {
  readonly raw: Buffer[];
  readonly messages: older.CrdtStreamIn[];
  closed: boolean;
}

/** A gRPC method whose messages stay bytes (this user function decodes and encodes them itself). */
function rawMethod(path: string, streaming: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  const raw = (b: Buffer) => b;
  return {
    path,
    requestStream: streaming,
    responseStream: streaming,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  };
}

const gcounter = (value: bigint) => create(older.CrdtStateSchema, { state: { case: "gcounter", value: { value } } });

/**
 * The user function: GCounter entities and ORMaps of GCounters (the TCK model's Process with
 * gcounter and ormap updates). Like java-support 0.5.2, a CRDT it creates goes out whole in
 * `create`, a new ORMap key whole in `added`, everything else as deltas.
 */
async function startOlderUserFunction(): Promise<{ port: number; streams: Map<string, OlderStream[]>; close(): Promise<void> }> {
  // No protocol version (0.0), as a support from before the version fields; only the model, with a short passivation.
  const spec = create(EntitySpecSchema, {
    proto: crdtSpec().proto,
    serviceInfo: { serviceName: "older-crdt", supportLibraryName: "older-crdt-fixture", supportLibraryVersion: "0.5.2" },
    entities: [
      {
        entityType: "cloudstate.crdt.Crdt",
        serviceName: CRDT_SERVICES.model,
        persistenceId: "older-crdt",
        passivationStrategy: { strategy: { case: "timeout", value: { timeout: 300n } } },
      },
    ],
  });
  const streams = new Map<string, OlderStream[]>();
  const server = new grpc.Server();
  server.addService(
    {
      discover: rawMethod("/cloudstate.EntityDiscovery/discover", false),
      reportError: rawMethod("/cloudstate.EntityDiscovery/reportError", false),
    },
    {
      discover: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        fromBinary(ProxyInfoSchema, call.request);
        callback(null, Buffer.from(toBinary(EntitySpecSchema, spec)));
      },
      reportError: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.alloc(0)),
    } as grpc.UntypedServiceImplementation,
  );
  server.addService(
    {
      handle: rawMethod("/cloudstate.crdt.Crdt/handle", true),
    },
    {
      handle: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        const stream: OlderStream = { raw: [], messages: [], closed: false };
        let value: older.CrdtState | undefined;
        const send = (message: older.CrdtStreamOut) => call.write(Buffer.from(toBinary(older.CrdtStreamOutSchema, message)));
        call.on("data", (bytes: Buffer) => {
          stream.raw.push(bytes);
          const message = fromBinary(older.CrdtStreamInSchema, bytes);
          stream.messages.push(message);
          const m = message.message;
          if (m.case === "init") {
            streams.set(m.value.entityId, [...(streams.get(m.value.entityId) ?? []), stream]);
            value = m.value.state;
            return;
          }
          if (m.case !== "command") return;
          const request = fromBinary(tck.RequestSchema, m.value.payload?.value ?? new Uint8Array());
          let action: older.CrdtStateAction | undefined;
          for (const a of request.actions) {
            const update = a.action.case === "update" ? a.action.value.update : undefined;
            if (update?.case === "gcounter") {
              const increment = update.value.increment;
              const now = value?.state.case === "gcounter" ? value.state.value.value : undefined;
              value = gcounter((now ?? 0n) + increment);
              action =
                now === undefined
                  ? create(older.CrdtStateActionSchema, { action: { case: "create", value } })
                  : create(older.CrdtStateActionSchema, { action: { case: "update", value: { delta: { case: "gcounter", value: { increment } } } } });
            } else if (update?.case === "ormap" && update.value.action.case === "update") {
              const key = update.value.action.value.key;
              const inner = update.value.action.value.update?.update;
              const increment = inner?.case === "gcounter" ? inner.value.increment : 0n;
              const map = value?.state.case === "ormap" ? value.state.value : undefined;
              const entry = map?.entries.find((e) => unpackString(e.key) === key);
              const entryValue = entry?.value?.state.case === "gcounter" ? entry.value.state.value.value : undefined;
              const entries = (map?.entries ?? []).filter((e) => e !== entry);
              entries.push(create(older.ORMapEntrySchema, { key: packString(key), value: gcounter((entryValue ?? 0n) + increment) }));
              value = create(older.CrdtStateSchema, { state: { case: "ormap", value: { entries } } });
              if (map === undefined) action = create(older.CrdtStateActionSchema, { action: { case: "create", value } });
              else if (entry === undefined)
                action = create(older.CrdtStateActionSchema, {
                  action: { case: "update", value: { delta: { case: "ormap", value: { added: [{ key: packString(key), value: gcounter(increment) }] } } } },
                });
              else
                action = create(older.CrdtStateActionSchema, {
                  action: {
                    case: "update",
                    value: {
                      delta: { case: "ormap", value: { updated: [{ key: packString(key), delta: { delta: { case: "gcounter", value: { increment } } } }] } },
                    },
                  },
                });
            }
          }
          const state =
            value?.state.case === "gcounter"
              ? { value: { case: "gcounter" as const, value: { value: value.state.value.value } } }
              : value?.state.case === "ormap"
                ? {
                    value: {
                      case: "ormap" as const,
                      value: {
                        entries: value.state.value.entries
                          .map((e) => ({
                            key: unpackString(e.key),
                            value: {
                              value: { case: "gcounter" as const, value: { value: e.value?.state.case === "gcounter" ? e.value.state.value.value : 0n } },
                            },
                          }))
                          .sort((a, b) => (a.key < b.key ? -1 : 1)),
                      },
                    },
                  }
                : {};
          const payload = toBinary(tck.ResponseSchema, create(tck.ResponseSchema, { state }));
          send(
            create(older.CrdtStreamOutSchema, {
              message: {
                case: "reply",
                value: {
                  commandId: m.value.id,
                  clientAction: {
                    action: { case: "reply", value: { payload: { typeUrl: `type.googleapis.com/${tck.ResponseSchema.typeName}`, value: payload } } },
                  },
                  ...(action === undefined ? {} : { stateAction: action }),
                },
              },
            }),
          );
        });
        call.on("end", () => {
          stream.closed = true;
          call.end();
        });
        call.on("error", () => {
          stream.closed = true;
        });
      },
    } as grpc.UntypedServiceImplementation,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { port, streams, close: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

/** The field number of the first tag of a message's bytes (its oneof case on the wire). */
const firstField = (bytes: Buffer | undefined) => (bytes?.[0] ?? 0) >> 3;

describe("CRDT entities on the wire from before 0.2", () => {
  let uf: Awaited<ReturnType<typeof startOlderUserFunction>>;
  let proxy: ProxyProcess;
  let client: TestClient;
  const ok = async (id: string, actions: Parameters<typeof processCall>[2]) => {
    const result = await processCall(client, id, actions);
    assert.equal(result.code, grpc.status.OK, result.details);
    return stateOf(result.messages[0]);
  };

  before(async () => {
    uf = await startOlderUserFunction();
    proxy = await startProxy({ userFunctionPort: uf.port });
    client = createTestClient(proxy.port);
  });
  after(async () => {
    client.close();
    await proxy.stop();
    await uf.close();
  });

  it("says in discovery that the CRDT entities get the older wire", () => {
    assert.match(proxy.stderr(), /reports protocol 0\.0: its CRDT entities get the CRDT wire from before 0\.2/);
  });

  it("keeps a GCounter created whole, then changed by deltas, across passivation", async () => {
    const inc = (n: bigint) => act.update({ case: "gcounter", value: { increment: n } });
    assert.equal(await ok("GCounter-1", [inc(3n)]), 3n);
    assert.equal(await ok("GCounter-1", [inc(4n)]), 7n);
    const [first] = uf.streams.get("GCounter-1") ?? [];
    // init (field 1) without a state, then commands as field 5 (0.2: field 4).
    assert.deepEqual(first?.raw.map(firstField), [1, 5, 5]);
    assert.equal(first?.messages[0]?.message.case === "init" ? first.messages[0].message.value.state : "no init", undefined);

    await eventually(() => uf.streams.get("GCounter-1")?.[0]?.closed === true, 5000, "the first stream to passivate");
    assert.equal(await ok("GCounter-1", [inc(1n)]), 8n);
    const second = uf.streams.get("GCounter-1")?.[1];
    const init = second?.messages[0]?.message;
    assert.equal(init?.case, "init");
    // The whole state (field 3 a CrdtState), not a delta: GCounterState{value 7}.
    if (init?.case === "init")
      assert.equal(toBinary(older.CrdtStateSchema, init.value.state ?? gcounter(0n)).toString(), toBinary(older.CrdtStateSchema, gcounter(7n)).toString());
  });

  it("keeps an ORMap whose new keys come whole and whose known keys come as deltas", async () => {
    const add = (key: string, n: bigint) =>
      act.update({ case: "ormap", value: { action: { case: "update", value: { key, update: { update: { case: "gcounter", value: { increment: n } } } } } } });
    assert.deepEqual(await ok("ORMap-1", [add("GCounter-a", 2n)]), { "GCounter-a": 2n });
    assert.deepEqual(await ok("ORMap-1", [add("GCounter-b", 5n)]), { "GCounter-a": 2n, "GCounter-b": 5n });
    assert.deepEqual(await ok("ORMap-1", [add("GCounter-a", 1n)]), { "GCounter-a": 3n, "GCounter-b": 5n });
    await eventually(() => uf.streams.get("ORMap-1")?.[0]?.closed === true, 5000, "the first stream to passivate");
    assert.deepEqual(await ok("ORMap-1", [add("GCounter-b", 1n)]), { "GCounter-a": 3n, "GCounter-b": 6n });
    const init = uf.streams.get("ORMap-1")?.[1]?.messages[0]?.message;
    const entries = init?.case === "init" && init.value.state?.state.case === "ormap" ? init.value.state.state.value.entries : [];
    assert.deepEqual(entries.map((e) => [unpackString(e.key), e.value?.state.case === "gcounter" ? e.value.state.value.value : undefined]).sort(), [
      ["GCounter-a", 3n],
      ["GCounter-b", 5n],
    ]);
  });
});
