/**
 * Seeded fuzzing of the front port through the real proxy process: raw TCP, HTTP/2
 * frames, HTTP/1.1, gRPC framing, protobuf payloads, JSON bodies, paths and gRPC-Web.
 * After each batch the proxy must be alive, its descriptors and RSS back near their
 * baseline, and a normal call must work.
 *
 *   FUZZ_SEED=<n>    the seed (default: 1; printed so a failure can be replayed)
 *   FUZZ_SCALE=<n>   cases per batch multiplier (default 1: a few minutes at most)
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import * as http2 from "node:http2";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "../../packages/proxy/src/errors/index.js";
import { EchoMessageSchema } from "../http/gen/switchboard/test/http/transcoding_pb.js";
import { TRANSCODING_SERVICE } from "../http/support/echo-user-function.js";
import { frame } from "../http/support/grpc-web-client.js";
import { FRAME, h2Frame, hpack, PREFACE } from "../ingress/support/h2-frames.js";
import { fdCount, rssBytes } from "../ingress/support/proc.js";
import { connect, rawGrpc } from "../ingress/support/raw-grpc.js";
import { eventually } from "../support/grpc-client.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";

const SEED = Number(process.env.FUZZ_SEED ?? 1);
const SCALE = Math.max(1, Number(process.env.FUZZ_SCALE ?? 1));
const CASES = 150 * SCALE;
const ECHO = `/${TRANSCODING_SERVICE}/Echo`;
const METHODS = ["Echo", "Stream", "Collect", "Chat", "NoReply", "Fail", "Upload", "Nope"];

/** mulberry32: a small seeded PRNG. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const text = (n: number) =>
    Array.from({ length: n }, () => pick(["a", "/", "%", "%2F", "..", "é", "\u0000", "{", "}", ":", "*", "?", "=", "&", " ", "\t", "~", "Z"])).join("");
  return { next, int, bytes, pick, text };
}
type Rng = ReturnType<typeof prng>;

/** Sends bytes on a raw connection and closes it after a short while (or when the server does). */
function rawSend(port: number, data: Buffer, holdMs: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(data));
    socket.on("error", () => {});
    socket.on("data", () => {});
    const timer = setTimeout(() => socket.destroy(), holdMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** One HTTP/2 request with arbitrary headers and body; resolves however it ends. */
function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<void> {
  return new Promise((resolve) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers);
    } catch {
      resolve();
      return;
    }
    const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), 3000);
    stream.on("error", () => {});
    stream.on("data", () => {});
    stream.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    stream.end(body);
  });
}

function httpRequestBytes(r: Rng): Buffer {
  const method = r.pick(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "GE T", "", "X".repeat(r.int(40))]);
  const path = r.pick(["/", "/alive", "/ready", "/v1/echo/", `/${TRANSCODING_SERVICE}/`, "*", ""]) + r.text(r.int(60));
  const headers = Array.from({ length: r.int(8) }, () =>
    r.pick([
      `content-type: ${r.pick(["application/json", "application/grpc-web", "application/grpc-web-text", "text/plain", "application/x-ndjson", r.text(10)])}`,
      `content-length: ${r.pick(["0", "5", "-1", "99999999999", "abc", String(r.int(100))])}`,
      "transfer-encoding: chunked",
      `origin: ${r.pick(["http://evil.example", "null", r.text(8)])}`,
      `${r.text(r.int(10))}: ${r.text(r.int(30))}`,
      `x-long: ${"v".repeat(r.int(30_000))}`,
    ]),
  );
  const body = r.next() < 0.5 ? r.bytes(r.int(300)) : Buffer.from(r.pick(["{}", '{"id":"x"}', "5\r\nhello\r\n0\r\n\r\n", "zz\r\n", r.text(50)]));
  return Buffer.concat([Buffer.from(`${method} ${path} HTTP/1.${r.int(3)}\r\n${headers.join("\r\n")}\r\n\r\n`, "latin1"), body]);
}

function h2FramesBytes(r: Rng): Buffer {
  const frames = Array.from({ length: 1 + r.int(6) }, () => {
    const type = r.int(11);
    const stream = r.pick([0, 1, 3, 5, 2, 2147483647]);
    const payload =
      type === FRAME.HEADERS && r.next() < 0.6
        ? hpack({
            ":method": r.pick(["GET", "POST"]),
            ":path": r.pick(["/alive", ECHO, `/${r.text(10)}`]),
            ":scheme": "http",
            "content-type": "application/grpc",
          })
        : r.bytes(r.int(r.next() < 0.05 ? 20_000 : 64));
    return h2Frame(type, r.int(256), stream, payload);
  });
  return Buffer.concat([PREFACE, h2Frame(FRAME.SETTINGS, 0, 0, r.next() < 0.8 ? Buffer.alloc(0) : r.bytes(r.int(20))), ...frames]);
}

function protobufBytes(r: Rng): Buffer {
  if (r.next() < 0.3) return Buffer.from(toBinary(EchoMessageSchema, create(EchoMessageSchema, { id: r.text(r.int(20)), tags: [r.text(5)] })));
  // Random tag/wire-type/length soup.
  const parts: Buffer[] = [];
  for (let i = 0; i < r.int(8); i++) parts.push(Buffer.from([r.int(256)]), r.next() < 0.3 ? Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]) : r.bytes(r.int(20)));
  return Buffer.concat(parts);
}

function grpcBody(r: Rng): Buffer {
  switch (r.int(5)) {
    case 0:
      return r.bytes(r.int(100));
    case 1: {
      const f = frame(protobufBytes(r));
      f.writeUInt32BE(r.pick([0, 1, 2 ** 31, 2 ** 32 - 1, 13 * 1024 * 1024]), 1);
      return f;
    }
    case 2:
      return frame(protobufBytes(r), 1); // compressed flag
    case 3:
      return Buffer.concat(Array.from({ length: 1 + r.int(4) }, () => frame(protobufBytes(r))));
    default:
      return frame(protobufBytes(r)).subarray(0, r.int(10));
  }
}

describe(`front port fuzzing (FUZZ_SEED=${SEED}, FUZZ_SCALE=${SCALE})`, () => {
  let uf: ChildProcess;
  let proxy: ProxyProcess;
  let pid: number;
  let baseFds: number;
  let baseRss: number;
  const r = prng(SEED);

  before(async () => {
    uf = spawn(process.execPath, ["--import", "tsx", new URL("./support/echo-user-function-main.ts", import.meta.url).pathname], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const [line] = (await once(uf.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
    proxy = await startProxy({
      userFunctionPort: Number(line.toString().trim()),
      extraArgs: [
        "--cors-origin",
        "http://allowed.test",
        "--keepalive-interval",
        "250",
        "--keepalive-timeout",
        "250",
        "--idle-timeout",
        "1000",
        "--header-timeout",
        "1000",
        "--sniff-timeout",
        "500",
        "--max-message-size",
        "1048576",
      ],
    });
    pid = proxy.child.pid as number;
    await healthy();
    baseFds = fdCount(pid);
    baseRss = rssBytes(pid);
  });
  after(async () => {
    await proxy.stop();
    uf.kill();
  });

  /** A normal call works. */
  async function healthy(): Promise<void> {
    const session = connect(proxy.port);
    try {
      const result = await rawGrpc(session, ECHO, [toBinary(EchoMessageSchema, create(EchoMessageSchema, { id: "ok" }))], { timeoutMs: 5000 });
      assert.equal(result.status, Code.Ok, result.message);
    } finally {
      session.close();
    }
  }

  /** Runs `cases` with a little concurrency, then checks the proxy. */
  async function batch(name: string, run: (i: number) => Promise<void>): Promise<void> {
    const width = 8;
    for (let i = 0; i < CASES; i += width) {
      await Promise.all(Array.from({ length: Math.min(width, CASES - i) }, (_, k) => run(i + k)));
    }
    assert.equal(proxy.child.exitCode, null, `the proxy exited during ${name}\n${proxy.stderr().slice(-2000)}`);
    await eventually(() => fdCount(pid) <= baseFds + 4, 15_000, `${name}: descriptors back near ${baseFds} (now ${fdCount(pid)})`);
    await eventually(() => rssBytes(pid) <= baseRss + 96 * 1024 * 1024, 15_000, `${name}: RSS back near ${baseRss >> 20} MiB (now ${rssBytes(pid) >> 20} MiB)`);
    await healthy();
  }

  it("raw TCP", () =>
    batch("raw TCP", () =>
      rawSend(proxy.port, r.next() < 0.3 ? Buffer.concat([PREFACE.subarray(0, r.int(24)), r.bytes(r.int(200))]) : r.bytes(r.int(2000)), 300),
    ));

  it("HTTP/2 frames", () => batch("HTTP/2 frames", () => rawSend(proxy.port, h2FramesBytes(r), 300)));

  it("HTTP/1.1", () => batch("HTTP/1.1", () => rawSend(proxy.port, httpRequestBytes(r), 1500)));

  const overH2 = (name: string, request: () => { headers: http2.OutgoingHttpHeaders; body: Buffer }) =>
    batch(name, async () => {
      const session = connect(proxy.port);
      try {
        await Promise.all(
          Array.from({ length: 4 }, () => {
            const { headers, body } = request();
            return h2Request(session, headers, body);
          }),
        );
      } finally {
        session.close();
      }
    });

  it("gRPC framing", () =>
    overH2("gRPC framing", () => ({
      headers: {
        ":method": "POST",
        ":path": `/${TRANSCODING_SERVICE}/${r.pick(METHODS)}`,
        "content-type": "application/grpc",
        "grpc-timeout": r.pick(["1n", "5S", "597H", "x", "99999999S"]),
      },
      body: grpcBody(r),
    })));

  it("protobuf payloads", () =>
    overH2("protobuf payloads", () => ({
      headers: { ":method": "POST", ":path": `/${TRANSCODING_SERVICE}/${r.pick(METHODS)}`, "content-type": "application/grpc" },
      body: frame(protobufBytes(r)),
    })));

  it("JSON bodies", () =>
    overH2("JSON bodies", () => {
      const valid = JSON.stringify({ id: r.text(5), tags: [r.text(3)], book: { name: r.text(4) }, scalars: { fInt32: r.int(10) } });
      const cut = r.int(valid.length + 1);
      const body = r.pick([
        valid,
        valid.slice(0, cut),
        `${valid.slice(0, cut)}${r.text(3)}${valid.slice(cut)}`,
        "[".repeat(r.int(5000)),
        '{"id":'.repeat(r.int(100)),
      ]);
      return {
        headers: {
          ":method": r.pick(["POST", "PUT", "PATCH"]),
          ":path": r.pick(["/v1/echo/a", `/${TRANSCODING_SERVICE}/Echo`, "/v1/echo/a/book", `/${TRANSCODING_SERVICE}/Collect`]),
          "content-type": r.pick(["application/json", "application/x-ndjson"]),
        },
        body: Buffer.from(body),
      };
    }));

  it("paths", () =>
    overH2("paths", () => ({
      headers: {
        ":method": r.pick(["GET", "POST", "DELETE", "REPORT"]),
        ":path": `/${r.pick(["v1/echo/", "v1/files/", "v1/scalar/", "v1/wkt/", "v1/items/", ""])}${r.text(r.int(80))}`,
      },
      body: Buffer.alloc(0),
    })));

  it("gRPC-Web", () =>
    overH2("gRPC-Web", () => {
      const text = r.next() < 0.5;
      const raw = grpcBody(r);
      return {
        headers: {
          ":method": "POST",
          ":path": `/${TRANSCODING_SERVICE}/${r.pick(METHODS)}`,
          "content-type": text ? "application/grpc-web-text" : r.pick(["application/grpc-web", "application/grpc-web+json"]),
        },
        body: text ? Buffer.from(r.next() < 0.7 ? raw.toString("base64") : `${raw.toString("base64")}${r.text(3)}`) : raw,
      };
    }));
});
