/**
 * End to end: the user function and the Switchboard proxy as real processes on free ports,
 * called the way clients call them, over HTTP/JSON and gRPC.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { grpcTestClient, startProxy, startUserFunction, type TestProxy, type TestUserFunction } from "@switchboard/sdk/testing";
import { EXAMPLE } from "./example.js";

describe(`${EXAMPLE.service.typeName} behind the proxy`, () => {
  let userFunction: TestUserFunction | undefined;
  let proxy: TestProxy | undefined;

  before(async () => {
    userFunction = await startUserFunction({ entry: "src/main.ts" });
    proxy = await startProxy({ userFunctionPort: userFunction.port });
  });

  after(async () => {
    await proxy?.stop();
    await userFunction?.stop();
  });

  it("answers over HTTP/JSON", async () => {
    const response = await fetch(`${proxy?.url}${EXAMPLE.http.path}`, {
      method: EXAMPLE.http.method,
      headers: { "content-type": "application/json" },
      ...(EXAMPLE.http.body === undefined ? {} : { body: JSON.stringify(EXAMPLE.http.body) }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    assert.deepEqual(await response.json(), EXAMPLE.http.expected);
  });

  it("answers over gRPC", async () => {
    const client = grpcTestClient(EXAMPLE.service, proxy?.address ?? "");
    try {
      const reply = await EXAMPLE.grpc(client);
      assert.deepEqual(reply, EXAMPLE.grpcExpected);
    } finally {
      client.close();
    }
  });
});
