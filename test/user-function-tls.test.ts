/**
 * TLS to the user function, through real processes: the counter example serving TLS
 * (its `serve()` reads TLS_CERT/TLS_KEY, and TLS_CLIENT_CA to require client
 * certificates) with certificates `openssl` makes for this run, and the `switchboard`
 * CLI connecting with --user-function-tls and its CA, client-certificate and
 * server-name options. Wrong settings never connect, and the log says why.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually } from "./support/grpc-client.js";
import { type ExampleProcess, startExample } from "./observability/support/example-process.js";
import { type ProxyProcess, SWITCHBOARD_BIN, startProxy } from "./support/proxy-process.js";

/** A CA, a server certificate for uf.test and 127.0.0.1, and a client certificate, as PEM files in `dir`. */
function makeCertificates(dir: string): void {
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=uf-test-ca");
  writeFileSync(join(dir, "server.ext"), "subjectAltName=DNS:uf.test,IP:127.0.0.1\n");
  for (const name of ["server", "client"]) {
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
    const ext = name === "server" ? ["-extfile", "server.ext"] : [];
    openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", ...ext);
  }
}

async function increase(port: number, id: string, value: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/counters/${id}/increase`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ value }),
  });
  assert.equal(response.status, 200, await response.text());
  const current = await fetch(`http://127.0.0.1:${port}/counters/${id}`);
  return Number((JSON.parse(await current.text()) as { value?: string }).value ?? 0);
}

/** Starts a proxy that must not get ready, and waits until its log gives `reason` for waiting. */
async function expectNoConnection(ufPort: number, args: string[], reason: RegExp): Promise<void> {
  const proxy = await startProxy({ userFunctionPort: ufPort, waitFor: "spawn", extraArgs: args });
  try {
    await eventually(async () => reason.test(proxy.stderr()), 20_000, `a log line matching ${reason}`).catch((error: Error) => {
      throw new Error(`${error.message}\nstderr:\n${proxy.stderr()}`);
    });
    assert.doesNotMatch(proxy.stdout(), /switchboard ready on/);
  } finally {
    await proxy.kill();
  }
}

describe("TLS to the user function", () => {
  let dir: string;
  let tlsCounter: ExampleProcess;
  let mtlsCounter: ExampleProcess;
  let plainCounter: ExampleProcess;
  const file = (name: string) => join(dir, name);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "switchboard-uf-tls-"));
    makeCertificates(dir);
    [tlsCounter, mtlsCounter, plainCounter] = await Promise.all([
      startExample("counter", { TLS_CERT: file("server.pem"), TLS_KEY: file("server.key") }),
      startExample("counter", { TLS_CERT: file("server.pem"), TLS_KEY: file("server.key"), TLS_CLIENT_CA: file("ca.pem") }),
      startExample("counter"),
    ]);
  });
  after(async () => {
    await Promise.all([tlsCounter?.stop(), mtlsCounter?.stop(), plainCounter?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves through a user function on TLS, with its CA given (which turns TLS on)", async () => {
    let proxy: ProxyProcess | undefined;
    try {
      proxy = await startProxy({ userFunctionPort: tlsCounter.port, extraArgs: ["--user-function-tls-ca", file("ca.pem")] });
      assert.equal(await increase(proxy.port, "t1", 3), 3);
      assert.equal(await increase(proxy.port, "t1", 4), 7);
    } finally {
      await proxy?.stop();
    }
  });

  it("checks the name the certificate must carry (--user-function-tls-server-name)", async () => {
    let proxy: ProxyProcess | undefined;
    try {
      proxy = await startProxy({
        userFunctionPort: tlsCounter.port,
        extraArgs: ["--user-function-tls"],
        env: { USER_FUNCTION_TLS_CA: file("ca.pem"), USER_FUNCTION_TLS_SERVER_NAME: "uf.test" },
      });
      assert.equal(await increase(proxy.port, "t2", 1), 1);
    } finally {
      await proxy?.stop();
    }
    await expectNoConnection(
      tlsCounter.port,
      ["--user-function-tls-ca", file("ca.pem"), "--user-function-tls-server-name", "other.test"],
      /certificate does not name it .*set --user-function-tls-server-name/,
    );
  });

  it("does not trust a certificate whose CA it was not given, and says so", async () => {
    await expectNoConnection(tlsCounter.port, ["--user-function-tls"], /its certificate is not trusted .*give its CA with --user-function-tls-ca/);
  });

  it("presents a client certificate to a user function that requires one (mTLS), and fails plainly without it", async () => {
    let proxy: ProxyProcess | undefined;
    try {
      proxy = await startProxy({
        userFunctionPort: mtlsCounter.port,
        extraArgs: ["--user-function-tls-ca", file("ca.pem"), "--user-function-tls-cert", file("client.pem"), "--user-function-tls-key", file("client.key")],
      });
      assert.equal(await increase(proxy.port, "m1", 2), 2);
    } finally {
      await proxy?.stop();
    }
    await expectNoConnection(
      mtlsCounter.port,
      ["--user-function-tls-ca", file("ca.pem")],
      /TLS to the user function at .* failed|reset the connection|unavailable/,
    );
  });

  it("tells plaintext and TLS apart when they are mismatched", async () => {
    await expectNoConnection(plainCounter.port, ["--user-function-tls-ca", file("ca.pem")], /does not speak TLS .*drop --user-function-tls/);
    await expectNoConnection(tlsCounter.port, [], /if it serves TLS, start the proxy with --user-function-tls/);
  });

  it("refuses bad TLS options at start with a one-line reason", () => {
    const start = (...args: string[]) =>
      spawnSync(process.execPath, [SWITCHBOARD_BIN, "start", "--store", "memory", "--admin-port", "0", "--http-port", "0", ...args], {
        encoding: "utf8",
        timeout: 15_000,
      });
    const half = start("--user-function-tls-cert", file("client.pem"));
    assert.equal(half.status, 2);
    assert.match(half.stderr, /^switchboard: --user-function-tls-cert and --user-function-tls-key go together/m);
    const missing = start("--user-function-tls-ca", file("nope.pem"));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^switchboard: cannot read --user-function-tls-ca .*nope\.pem: ENOENT/m);
    // Files that exist but hold no PEM: refused at start, not at the first dial.
    writeFileSync(file("garbage.pem"), "not a certificate\n");
    const garbageKey = start("--user-function-tls-cert", file("client.pem"), "--user-function-tls-key", file("garbage.pem"));
    assert.equal(garbageKey.status, 1);
    assert.match(garbageKey.stderr, /^switchboard: the user-function TLS material is not usable .*--user-function-tls-key/m);
  });
});
