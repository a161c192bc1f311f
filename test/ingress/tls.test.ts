/**
 * TLS on the front port with certificates made by `openssl` for this run: HTTP/2
 * (gRPC) and HTTP/1.1 on the same port chosen by ALPN, and client certificates
 * required with --tls-client-ca.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "../../packages/proxy/src/errors/index.js";
import { EchoMessageSchema } from "../http/gen/switchboard/test/http/transcoding_pb.js";
import { type EchoUserFunction, startEchoUserFunction, TRANSCODING_SERVICE } from "../http/support/echo-user-function.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { rawGrpc } from "./support/raw-grpc.js";

const ECHO = `/${TRANSCODING_SERVICE}/Echo`;

/** A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`. */
function makeCertificates(dir: string): void {
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=test-ca");
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1\n");
  for (const name of ["server", "client"]) {
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
    openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "1",
      ...(name === "server" ? ["-extfile", "server.ext"] : []),
    );
  }
}

function httpsGet(port: number, options: https.RequestOptions & { ALPNProtocols?: string[] }): Promise<{ status: number; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const request = https.request({ host: "127.0.0.1", port, path: "/alive", agent: false, ...options }, (response) => {
      response.resume();
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, alpn: (response.socket as unknown as { alpnProtocol: string | false }).alpnProtocol }),
      );
    });
    request.on("error", reject);
    request.end();
  });
}

describe("TLS on the front port", () => {
  let dir: string;
  let uf: EchoUserFunction;
  let ca: Buffer;
  const file = (name: string) => join(dir, name);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "switchboard-tls-"));
    makeCertificates(dir);
    ca = readFileSync(file("ca.pem"));
    uf = await startEchoUserFunction();
  });
  after(async () => {
    await uf.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("server certificate", () => {
    let proxy: ProxyProcess;
    before(async () => {
      proxy = await startProxy({ userFunctionPort: uf.port, extraArgs: ["--tls-cert", file("server.pem"), "--tls-key", file("server.key")] });
    });
    after(async () => {
      await proxy.stop();
    });

    it("serves gRPC over HTTP/2 chosen by ALPN", async () => {
      const session = http2.connect(`https://127.0.0.1:${proxy.port}`, { ca });
      session.on("error", () => {});
      try {
        const result = await rawGrpc(session, ECHO, [toBinary(EchoMessageSchema, create(EchoMessageSchema, { id: "secure" }))]);
        assert.equal(session.alpnProtocol, "h2");
        assert.equal(result.status, Code.Ok);
        assert.equal(fromBinary(EchoMessageSchema, result.messages[0] as Buffer).id, "secure");
      } finally {
        session.close();
      }
    });

    it("serves HTTP/1.1 on the same port", async () => {
      const answer = await httpsGet(proxy.port, { ca, ALPNProtocols: ["http/1.1"] });
      assert.deepEqual(answer, { status: 200, alpn: "http/1.1" });
    });

    it("refuses clients that do not trust the certificate (no cleartext fallback)", async () => {
      await assert.rejects(httpsGet(proxy.port, {}), /self[- ]signed|unable to verify|certificate/i);
    });
  });

  describe("client certificates (--tls-client-ca)", () => {
    let proxy: ProxyProcess;
    before(async () => {
      proxy = await startProxy({
        userFunctionPort: uf.port,
        env: { TLS_CERT: file("server.pem"), TLS_KEY: file("server.key"), TLS_CLIENT_CA: file("ca.pem") },
      });
    });
    after(async () => {
      await proxy.stop();
    });

    it("takes a client with a certificate signed by the CA", async () => {
      const answer = await httpsGet(proxy.port, { ca, cert: readFileSync(file("client.pem")), key: readFileSync(file("client.key")) });
      assert.equal(answer.status, 200);
    });

    it("refuses a client without a certificate", async () => {
      await assert.rejects(httpsGet(proxy.port, { ca }));
    });
  });

  it("stops at start with the path of an unreadable certificate", async () => {
    await assert.rejects(
      startProxy({ userFunctionPort: uf.port, extraArgs: ["--tls-cert", file("missing.pem"), "--tls-key", file("server.key")] }),
      /cannot read --tls-cert .*missing\.pem/,
    );
  });
});
