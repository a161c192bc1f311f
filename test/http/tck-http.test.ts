/**
 * The TCK's HTTP expectations (docs/protocol.md#conformance) against the model
 * user function: annotated and default routes, compact JSON with defaults, 200
 * application/json, and a failure as 500 whose body is exactly its description.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type ModelUserFunction, startModelUserFunction } from "../support/model-user-function.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";
import { h1 } from "./support/http-client.js";

describe("TCK HTTP cases on the model user function", () => {
  let uf: ModelUserFunction;
  let proxy: ProxyProcess;
  const post = (path: string, body: unknown) => h1(proxy.port, { method: "POST", path, json: body });

  before(async () => {
    uf = await startModelUserFunction();
    proxy = await startProxy({ userFunctionPort: uf.port });
  });
  after(async () => {
    await proxy.stop();
    await uf.close();
  });

  it("value entity: POST /tck/model/entity/{id}, updates, a failure, and the default route", async () => {
    const path = "/tck/model/entity/http-entity";
    const first = await post(path, {});
    assert.equal(first.status, 200);
    assert.equal(first.headers["content-type"], "application/json");
    assert.equal(first.text, '{"message":""}');
    assert.equal((await post(path, { actions: [{ update: { value: "one" } }] })).text, '{"message":"one"}');
    const failed = await post(path, { actions: [{ fail: { message: "expected failure" } }] });
    assert.equal(failed.status, 500);
    assert.equal(failed.text, "expected failure");
    assert.equal((await post(path, { actions: [{ update: { value: "two" } }] })).text, '{"message":"two"}');
    assert.equal((await post(path, {})).text, '{"message":"two"}');
    const two = await post("/cloudstate.tck.model.valueentity.ValueEntityTwo/Call", { id: "http-entity" });
    assert.equal(two.status, 200);
    assert.equal(two.headers["content-type"], "application/json");
    assert.equal(two.text, '{"message":""}');
  });

  it("action: POST /tck/model/action/unary replies, and a failure step is a 500 with its message", async () => {
    const reply = await post("/tck/model/action/unary", { groups: [{ steps: [{ reply: { message: "foo" } }] }] });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, '{"message":"foo"}');
    const failed = await post("/tck/model/action/unary", { groups: [{ steps: [{ fail: { message: "boom" } }] }] });
    assert.equal(failed.status, 500);
    assert.equal(failed.text, "boom");
    const two = await post("/cloudstate.tck.model.action.ActionTwo/Call", {});
    assert.equal(two.text, '{"message":""}');
  });

  it("the annotated method also answers its default route (every method has one)", async () => {
    const result = await post("/cloudstate.tck.model.valueentity.ValueEntityTckModel/Process", { id: "default-too" });
    assert.equal(result.text, '{"message":""}');
  });

  it("GET / answers (the TCK waits for any HTTP response)", async () => {
    const result = await h1(proxy.port, { path: "/" });
    assert.equal(result.status, 404);
  });
});
