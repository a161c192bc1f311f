/**
 * The call layer gRPC and gRPC-Web share, through the real proxy process and the echo
 * user function: both protocols answer the same way where the call layer decides.
 */
import assert from "node:assert/strict";
import type * as http2 from "node:http2";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "../../packages/proxy/src/errors/index.js";
import { EchoMessageSchema } from "../http/gen/switchboard/test/http/transcoding_pb.js";
import { type EchoUserFunction, startEchoUserFunction, TRANSCODING_SERVICE } from "../http/support/echo-user-function.js";
import { grpcWebCall } from "../http/support/grpc-web-client.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { connect, rawGrpc } from "./support/raw-grpc.js";

const NO_REPLY = `/${TRANSCODING_SERVICE}/NoReply`;
const echo = (id: string) => toBinary(EchoMessageSchema, create(EchoMessageSchema, { id }));

describe("the shared gRPC / gRPC-Web call layer", () => {
  let uf: EchoUserFunction;
  let proxy: ProxyProcess;
  let session: http2.ClientHttp2Session;

  before(async () => {
    uf = await startEchoUserFunction();
    proxy = await startProxy({ userFunctionPort: uf.port });
    session = connect(proxy.port);
  });
  after(async () => {
    session.close();
    await proxy.stop();
    await uf.close();
  });

  it("a unary call answered with no reply gets the empty output message over gRPC", async () => {
    const result = await rawGrpc(session, NO_REPLY, [echo("n")]);
    assert.equal(result.status, Code.Ok);
    assert.equal(result.messages.length, 1);
    assert.equal(result.messages[0]?.length, 0);
  });

  for (const transport of ["h1", "h2"] as const) {
    it(`... and the same empty message over gRPC-Web (${transport})`, async () => {
      const result = await grpcWebCall(proxy.port, NO_REPLY, [echo("n")], { transport });
      assert.equal(result.status, Code.Ok);
      assert.equal(result.messages.length, 1);
      assert.equal(result.messages[0]?.length, 0);
    });
  }
});
