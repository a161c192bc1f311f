/**
 * grpcurl against the real proxy, through server reflection only: list, describe and
 * call every service of the echo and TCK model user functions. Needs grpcurl, which
 * CI installs with `go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest`;
 * without it this test fails (it never skips).
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { type EchoUserFunction, startEchoUserFunction, TRANSCODING_SERVICE } from "../http/support/echo-user-function.js";
import { type ModelUserFunction, startModelUserFunction } from "../support/model-user-function.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { COUNTER_SERVICES, type CounterExample, startCounterExample } from "./support/counter-example.js";

const INSTALL = "go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest (or set GRPCURL to its path)";

/** Finds grpcurl: $GRPCURL, the PATH, then Go's bin folder. */
function findGrpcurl(): string | undefined {
  const candidates: string[] = [];
  if (process.env.GRPCURL) candidates.push(process.env.GRPCURL);
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) if (dir) candidates.push(path.join(dir, "grpcurl"));
  try {
    const gopath = execFileSync("go", ["env", "GOPATH"], { encoding: "utf8" }).trim();
    if (gopath) candidates.push(path.join(gopath, "bin", "grpcurl"));
  } catch {
    // no Go toolchain: try the default GOPATH below
  }
  candidates.push(path.join(os.homedir(), "go", "bin", "grpcurl"));
  return candidates.find((c) => existsSync(c));
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(bin: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Splits grpcurl's output of several JSON messages. */
function jsonMessages(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") {
      if (depth++ === 0) start = i;
    } else if (c === "}" && --depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
  }
  return out;
}

describe("grpcurl through server reflection", () => {
  let grpcurl: string;
  let echoUf: EchoUserFunction;
  let modelUf: ModelUserFunction;
  let counterUf: CounterExample;
  let echoProxy: ProxyProcess;
  let modelProxy: ProxyProcess;
  let counterProxy: ProxyProcess;
  const at = (p: ProxyProcess) => `127.0.0.1:${p.port}`;

  before(async () => {
    const found = findGrpcurl();
    assert.ok(found, `grpcurl is not installed: ${INSTALL}`);
    grpcurl = found;
    echoUf = await startEchoUserFunction();
    modelUf = await startModelUserFunction();
    counterUf = await startCounterExample();
    [echoProxy, modelProxy, counterProxy] = await Promise.all([
      startProxy({ userFunctionPort: echoUf.port }),
      startProxy({ userFunctionPort: modelUf.port }),
      startProxy({ userFunctionPort: counterUf.port }),
    ]);
  });
  after(async () => {
    await Promise.all([echoProxy?.stop(), modelProxy?.stop(), counterProxy?.stop()]);
    await echoUf?.close();
    await modelUf?.close();
    await counterUf?.stop();
  });

  it("lists the reflection service and the entity services", async () => {
    const echo = await run(grpcurl, ["-plaintext", at(echoProxy), "list"]);
    assert.equal(echo.code, 0, echo.stderr);
    // grpcurl sorts what it prints; the order the proxy sends is checked in test/http/reflection.test.ts.
    assert.deepEqual(echo.stdout.trim().split("\n"), [TRANSCODING_SERVICE, "grpc.reflection.v1alpha.ServerReflection"].sort());
    const model = await run(grpcurl, ["-plaintext", at(modelProxy), "list"]);
    assert.equal(model.code, 0, model.stderr);
    assert.deepEqual(model.stdout.trim().split("\n"), [...modelUf.spec.entities.map((e) => e.serviceName), "grpc.reflection.v1alpha.ServerReflection"].sort());
  });

  it("lists a service's methods and describes services, methods and messages", async () => {
    const methods = await run(grpcurl, ["-plaintext", at(echoProxy), "list", TRANSCODING_SERVICE]);
    assert.equal(methods.code, 0, methods.stderr);
    for (const m of ["Echo", "Stream", "Collect", "Chat", "Upload"]) assert.ok(methods.stdout.includes(`${TRANSCODING_SERVICE}.${m}\n`), methods.stdout);
    const service = await run(grpcurl, ["-plaintext", at(echoProxy), "describe", TRANSCODING_SERVICE]);
    assert.equal(service.code, 0, service.stderr);
    assert.match(service.stdout, /rpc Echo \( \.switchboard\.test\.http\.EchoMessage \) returns \( \.switchboard\.test\.http\.EchoMessage \)/);
    assert.match(service.stdout, /rpc Stream \( \.switchboard\.test\.http\.StreamRequest \) returns \( stream \.switchboard\.test\.http\.EchoMessage \)/);
    const message = await run(grpcurl, ["-plaintext", at(echoProxy), "describe", "switchboard.test.http.EchoMessage"]);
    assert.equal(message.code, 0, message.stderr);
    assert.match(message.stdout, /map<string, string> labels = 8;/);
    assert.match(message.stdout, /\.google\.protobuf\.Timestamp timestamp = 1;|WellKnown well_known = 3;/);
    const wkt = await run(grpcurl, ["-plaintext", at(echoProxy), "describe", "switchboard.test.http.WellKnown"]);
    assert.match(wkt.stdout, /\.google\.protobuf\.Timestamp timestamp = 1;/);
  });

  it("describes every service of the TCK model", async () => {
    for (const entity of modelUf.spec.entities) {
      const result = await run(grpcurl, ["-plaintext", at(modelProxy), "describe", entity.serviceName]);
      assert.equal(result.code, 0, `${entity.serviceName}: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`${entity.serviceName.replace(/\./g, "\\.")} is a service`));
    }
  });

  it("calls unary, server-streaming and client-streaming methods with JSON", async () => {
    const unary = await run(grpcurl, ["-plaintext", "-d", '{"id":"g1","tags":["a"],"numbers":["5"]}', at(echoProxy), `${TRANSCODING_SERVICE}/Echo`]);
    assert.equal(unary.code, 0, unary.stderr);
    assert.deepEqual(jsonMessages(unary.stdout), [{ id: "g1", tags: ["a"], numbers: ["5"] }]);
    const stream = await run(grpcurl, ["-plaintext", "-d", '{"count":3}', at(echoProxy), `${TRANSCODING_SERVICE}/Stream`]);
    assert.equal(stream.code, 0, stream.stderr);
    assert.equal(jsonMessages(stream.stdout).length, 3);
    const collect = await run(grpcurl, ["-plaintext", "-d", '{"tags":["a"]} {"tags":["b"]}', at(echoProxy), `${TRANSCODING_SERVICE}/Collect`]);
    assert.equal(collect.code, 0, collect.stderr);
    assert.deepEqual(jsonMessages(collect.stdout), [{ id: "2", tags: ["a", "b"] }]);
    const headers = await run(grpcurl, ["-plaintext", "-H", "x-custom: from-grpcurl", "-d", "{}", at(echoProxy), `${TRANSCODING_SERVICE}/Headers`]);
    assert.equal((jsonMessages(headers.stdout)[0] as { labels: Record<string, string> }).labels["x-custom"], "from-grpcurl");
  });

  it("shows a user-function failure as Unknown with its description", async () => {
    const failed = await run(grpcurl, ["-plaintext", "-d", '{"message":"expected failure"}', at(echoProxy), `${TRANSCODING_SERVICE}/Fail`]);
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /Code: Unknown/);
    assert.match(failed.stderr, /Message: expected failure/);
  });

  it("calls the TCK model's value entity and action services", async () => {
    const calls: [string, string, unknown][] = [
      ["cloudstate.tck.model.valueentity.ValueEntityTckModel/Process", '{"id":"g","actions":[{"update":{"value":"v"}}]}', { message: "v" }],
      ["cloudstate.tck.model.valueentity.ValueEntityTwo/Call", '{"id":"g"}', {}],
      ["cloudstate.tck.model.valueentity.ValueEntityConfigured/Call", '{"id":"g"}', {}],
      ["cloudstate.tck.model.action.ActionTckModel/ProcessUnary", '{"groups":[{"steps":[{"reply":{"message":"hi"}}]}]}', { message: "hi" }],
      ["cloudstate.tck.model.action.ActionTwo/Call", '{"id":"g"}', {}],
    ];
    for (const [method, data, expected] of calls) {
      const result = await run(grpcurl, ["-plaintext", "-d", data, at(modelProxy), method]);
      assert.equal(result.code, 0, `${method}: ${result.stderr}`);
      assert.deepEqual(jsonMessages(result.stdout), [expected], method);
    }
  });

  it("lists, describes and calls the counter example's services", async () => {
    const list = await run(grpcurl, ["-plaintext", at(counterProxy), "list"]);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(list.stdout.trim().split("\n"), [...COUNTER_SERVICES, "grpc.reflection.v1alpha.ServerReflection"].sort());
    for (const service of COUNTER_SERVICES) {
      const describe = await run(grpcurl, ["-plaintext", at(counterProxy), "describe", service]);
      assert.equal(describe.code, 0, `${service}: ${describe.stderr}`);
      assert.match(describe.stdout, /is a service/);
    }
    const increase = await run(grpcurl, [
      "-plaintext",
      "-d",
      '{"counter_id":"grpcurl","value":"5"}',
      at(counterProxy),
      "com.example.counter.CounterService/Increase",
    ]);
    assert.equal(increase.code, 0, increase.stderr);
    const fanout = await run(grpcurl, [
      "-plaintext",
      "-d",
      '{"counter_ids":["grpcurl"],"value":"2"}',
      at(counterProxy),
      "com.example.counter.CounterFanout/IncreaseMany",
    ]);
    assert.equal(fanout.code, 0, fanout.stderr);
    // The fan-out's increases are asynchronous side effects: wait for them.
    const until = Date.now() + 5000;
    let value: unknown;
    while (Date.now() < until) {
      const get = await run(grpcurl, [
        "-plaintext",
        "-d",
        '{"counter_id":"grpcurl"}',
        at(counterProxy),
        "com.example.counter.CounterService/GetCurrentCounter",
      ]);
      assert.equal(get.code, 0, get.stderr);
      value = (jsonMessages(get.stdout)[0] as { value?: string }).value;
      if (value === "7") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(value, "7");
  });
});
