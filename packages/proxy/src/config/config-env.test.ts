import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { MAX_SOCKET_PATH_BYTES, parseConfig, START_HELP, START_OPTIONS } from "./config.js";

const BIN = join(dirname(fileURLToPath(import.meta.url)), "../../bin/switchboard.mjs");

/** The environment variable of a flag: its name in upper snake case; the store's is DATABASE_URL, the broker's EVENTING_URL. */
function envNameOf(flag: string): string {
  if (flag === "store") return "DATABASE_URL";
  if (flag === "eventing") return "EVENTING_URL";
  return flag.toUpperCase().replaceAll("-", "_");
}

/** A valid value for every string flag, different from its default. */
const SAMPLES: Readonly<Record<string, string>> = {
  "user-function-host": "10.0.0.7",
  "user-function-port": "8181",
  "user-function-socket": "/run/switchboard/uf.sock",
  "http-port": "9191",
  bind: "127.0.0.1",
  store: "memory",
  "sqlite-commit": "worker",
  "passivation-timeout": "1234",
  "relay-timeout": "4321",
  "max-message-size": "65536",
  "max-active-entities": "77",
  "heap-release": "off",
  "user-function-http2": "node",
  "front-http2": "node",
  "front-http1": "node",
  "cors-origin": "https://app.example.com",
  "log-level": "warn",
  "log-format": "json",
  "admin-port": "9292",
  "admin-bind": "127.0.0.2",
  "admin-token": "s3cret",
  "idle-timeout": "5000",
  "header-timeout": "2000",
  "sniff-timeout": "3000",
  "keepalive-interval": "4000",
  "keepalive-timeout": "1500",
  "max-connections": "50",
  "max-concurrent-streams": "60",
  "http2-session-memory": "8",
  "max-header-size": "8192",
  "max-queued-requests": "16",
  "cluster-port": "7000",
  "node-id": "node-7",
  "advertise-host": "pod-7.switchboard",
  "lease-ttl": "2500",
  "user-function-tls-ca": "/etc/switchboard/uf-ca.pem",
  "user-function-tls-server-name": "uf.internal",
  "topic-max-attempts": "9",
  "topic-retry-backoff": "250",
  eventing: "nats://10.0.0.9:4333",
  "topic-retention": "12h",
  "topic-retention-bytes": "1048576",
  "topic-retention-check": "5000",
};

/** Flags that only parse as a pair: checked together in `user-function-tls.test.ts`. */
const PAIRED = new Set(["user-function-tls-cert", "user-function-tls-key"]);

/** Flags that only mean something in cluster mode: checked with a cluster port given. */
const CLUSTER_ONLY = new Set(["node-id", "advertise-host", "lease-ttl"]);

const flags = Object.entries(START_OPTIONS) as [string, { type: "string" | "boolean" }][];

describe("switchboard start: every flag has an environment variable", () => {
  it("names it in the help text", () => {
    for (const [flag] of flags) {
      const entry = START_HELP.split(/\n(?= {2}-)/).find(
        (block) => block.trimStart().startsWith(`--${flag} `) || block.trim() === `--${flag}` || block.trimStart().startsWith(`--${flag}\n`),
      );
      assert.ok(entry, `--${flag} is missing from the help text`);
      assert.match(entry, new RegExp(`env ${envNameOf(flag)}\\b`), `the help of --${flag} names no env ${envNameOf(flag)}`);
    }
  });

  it("reads the variable when the flag is absent, and the flag wins over it", () => {
    for (const [flag, option] of flags) {
      if (option.type !== "string" || flag.startsWith("tls-") || PAIRED.has(flag)) continue; // TLS files are read at start; tested with real files elsewhere
      const sample = SAMPLES[flag];
      assert.ok(sample !== undefined, `no sample value for --${flag}: add one to this test`);
      const base = CLUSTER_ONLY.has(flag) ? ["--cluster-port", "7000"] : [];
      const fromFlag = parseConfig([...base, `--${flag}`, sample], {});
      const fromEnv = parseConfig(base, { [envNameOf(flag)]: sample });
      assert.equal(fromFlag.error, undefined, `--${flag} ${sample}: ${fromFlag.error}`);
      assert.deepEqual(fromEnv, fromFlag, `${envNameOf(flag)}=${sample} differs from --${flag} ${sample}`);
      assert.notDeepEqual(parseConfig(base, {}), fromFlag, `the sample of --${flag} is its default; pick another`);
      const both = parseConfig([...base, `--${flag}`, sample], { [envNameOf(flag)]: "garbage" });
      assert.deepEqual(both, fromFlag, `--${flag} does not win over ${envNameOf(flag)}`);
    }
  });

  it("turns the boolean switches on from the environment and rejects a value that is not a boolean", () => {
    assert.equal(parseConfig([], { NO_PROTOCOL_CHECK: "true" }).config?.protocolCheck, false);
    assert.equal(parseConfig([], { NO_PROTOCOL_CHECK: "false" }).config?.protocolCheck, true);
    assert.equal(parseConfig(["--no-protocol-check"], {}).config?.protocolCheck, false);
    assert.match(parseConfig([], { NO_PROTOCOL_CHECK: "maybe" }).error ?? "", /^NO_PROTOCOL_CHECK must be true or false, got "maybe"/);
    assert.equal(parseConfig([], {}).config?.userFunctionTls, undefined);
    assert.equal(parseConfig([], { USER_FUNCTION_TLS: "false" }).config?.userFunctionTls, undefined);
    assert.deepEqual(parseConfig([], { USER_FUNCTION_TLS: "true" }).config?.userFunctionTls, parseConfig(["--user-function-tls"], {}).config?.userFunctionTls);
    assert.notEqual(parseConfig(["--user-function-tls"], {}).config?.userFunctionTls, undefined);
    assert.match(parseConfig([], { USER_FUNCTION_TLS: "maybe" }).error ?? "", /^USER_FUNCTION_TLS must be true or false, got "maybe"/);
  });

  it("splits CORS_ORIGIN on commas", () => {
    assert.deepEqual(parseConfig([], { CORS_ORIGIN: "https://a.example, https://b.example" }).config?.corsOrigins, ["https://a.example", "https://b.example"]);
  });

  it("names the variable, not the flag, when the bad value came from the environment", () => {
    assert.match(parseConfig([], { RELAY_TIMEOUT: "soon" }).error ?? "", /^RELAY_TIMEOUT must be a positive whole number of milliseconds, got "soon"/);
    assert.match(parseConfig(["--relay-timeout", "soon"], {}).error ?? "", /^--relay-timeout must be/);
  });

  it("makes switchboard start exit 2 with that reason when a variable is wrong", () => {
    const run = spawnSync(process.execPath, [BIN, "start", "--user-function-port", "1", "--http-port", "0", "--store", "memory"], {
      encoding: "utf8",
      timeout: 30_000,
      env: { ...process.env, PASSIVATION_TIMEOUT: "-5" },
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr.trim().split("\n")[0] ?? "", /^switchboard: PASSIVATION_TIMEOUT must be a positive whole number of milliseconds, got "-5"/);
    assert.equal(run.stdout, "");
  });
});

describe("switchboard start --user-function-socket", () => {
  it("takes a path up to the kernel's limit and refuses a longer one, saying how long it is", () => {
    const longest = `/tmp/${"s".repeat(MAX_SOCKET_PATH_BYTES - 5)}`;
    assert.equal(Buffer.byteLength(longest), MAX_SOCKET_PATH_BYTES);
    assert.equal(parseConfig(["--user-function-socket", longest], {}).config?.userFunctionSocket, longest);
    const tooLong = `${longest}x`;
    assert.match(
      parseConfig(["--user-function-socket", tooLong], {}).error ?? "",
      new RegExp(`^--user-function-socket is ${MAX_SOCKET_PATH_BYTES + 1} bytes long; a Unix socket path holds at most ${MAX_SOCKET_PATH_BYTES} bytes`),
    );
    assert.match(parseConfig([], { USER_FUNCTION_SOCKET: tooLong }).error ?? "", /^USER_FUNCTION_SOCKET is \d+ bytes long/);
    // Bytes, not characters: a UTF-8 path counts its encoded length.
    assert.match(parseConfig(["--user-function-socket", `/tmp/${"é".repeat(60)}`], {}).error ?? "", /is 125 bytes long/);
  });

  it("refuses an empty path, and TLS together with a socket", () => {
    assert.match(parseConfig(["--user-function-socket", ""], {}).error ?? "", /^--user-function-socket needs the path/);
    assert.equal(parseConfig([], { USER_FUNCTION_SOCKET: "" }).config?.userFunctionSocket, undefined);
    for (const tls of [["--user-function-tls"], ["--user-function-tls-ca", "/ca.pem"]]) {
      assert.match(
        parseConfig(["--user-function-socket", "/tmp/uf.sock", ...tls], {}).error ?? "",
        /--user-function-socket and --user-function-tls exclude each other/,
      );
    }
    assert.match(parseConfig([], { USER_FUNCTION_SOCKET: "/tmp/uf.sock", USER_FUNCTION_TLS: "true" }).error ?? "", /exclude each other/);
  });

  it("makes switchboard start exit 2 on a path that is too long", () => {
    const run = spawnSync(process.execPath, [BIN, "start", "--http-port", "0", "--store", "memory"], {
      encoding: "utf8",
      timeout: 30_000,
      env: { ...process.env, USER_FUNCTION_SOCKET: `/tmp/${"s".repeat(200)}` },
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /^switchboard: USER_FUNCTION_SOCKET is 205 bytes long; a Unix socket path holds at most/);
  });
});

describe("switchboard start --user-function-http2", () => {
  it("takes builtin (the default) or node, and says what else is wrong", () => {
    assert.equal(parseConfig([], {}).config?.userFunctionHttp2, "builtin");
    assert.equal(parseConfig(["--user-function-http2", "node"], {}).config?.userFunctionHttp2, "node");
    assert.equal(parseConfig([], { USER_FUNCTION_HTTP2: "node" }).config?.userFunctionHttp2, "node");
    assert.equal(parseConfig(["--user-function-http2", "nghttp2"], {}).error, `--user-function-http2 must be builtin or node, got "nghttp2"`);
    assert.equal(parseConfig([], { USER_FUNCTION_HTTP2: "fast" }).error, `USER_FUNCTION_HTTP2 must be builtin or node, got "fast"`);
  });
});

describe("switchboard start --front-http2", () => {
  it("takes builtin (the default) or node, and says what else is wrong", () => {
    assert.equal(parseConfig([], {}).config?.frontPort.http2, "builtin");
    assert.equal(parseConfig(["--front-http2", "node"], {}).config?.frontPort.http2, "node");
    assert.equal(parseConfig([], { FRONT_HTTP2: "node" }).config?.frontPort.http2, "node");
    assert.equal(parseConfig(["--front-http2", "nghttp2"], {}).error, `--front-http2 must be builtin or node, got "nghttp2"`);
    assert.equal(parseConfig([], { FRONT_HTTP2: "fast" }).error, `FRONT_HTTP2 must be builtin or node, got "fast"`);
  });
});

describe("switchboard start --front-http1", () => {
  it("takes builtin (the default) or node, and says what else is wrong", () => {
    assert.equal(parseConfig([], {}).config?.frontPort.http1, "builtin");
    assert.equal(parseConfig(["--front-http1", "node"], {}).config?.frontPort.http1, "node");
    assert.equal(parseConfig([], { FRONT_HTTP1: "node" }).config?.frontPort.http1, "node");
    assert.equal(parseConfig(["--front-http1", "llhttp"], {}).error, `--front-http1 must be builtin or node, got "llhttp"`);
    assert.equal(parseConfig([], { FRONT_HTTP1: "fast" }).error, `FRONT_HTTP1 must be builtin or node, got "fast"`);
  });
});

describe("switchboard start --heap-release", () => {
  it("is on by default, takes on or off, and names the flag or the variable in a bad value's error", () => {
    assert.equal(parseConfig([], {}).config?.heapRelease, true);
    assert.equal(parseConfig(["--heap-release", "off"], {}).config?.heapRelease, false);
    assert.equal(parseConfig(["--heap-release", "on"], { HEAP_RELEASE: "off" }).config?.heapRelease, true);
    assert.equal(parseConfig([], { HEAP_RELEASE: "off" }).config?.heapRelease, false);
    assert.equal(parseConfig([], { HEAP_RELEASE: "" }).config?.heapRelease, true);
    assert.equal(parseConfig(["--heap-release", "maybe"], {}).error, `--heap-release must be on or off, got "maybe"`);
    assert.equal(parseConfig([], { HEAP_RELEASE: "false" }).error, `HEAP_RELEASE must be on or off, got "false"`);
  });

  it("makes switchboard start exit 2 on a bad value", () => {
    const run = spawnSync(process.execPath, [BIN, "start", "--http-port", "0", "--store", "memory", "--heap-release", "yes"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /^switchboard: --heap-release must be on or off, got "yes"/);
    assert.equal(run.stdout, "");
  });
});
