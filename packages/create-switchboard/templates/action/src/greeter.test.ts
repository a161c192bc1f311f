import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testAction } from "@switchboard/sdk/testing";
import { greeter } from "./greeter.js";

describe("greeter", () => {
  it("greets by name", async () => {
    assert.equal((await testAction(greeter).call("greet", { name: "Ada" })).reply?.message, "Hello, Ada!");
  });

  it("fails without a name", async () => {
    assert.equal((await testAction(greeter).call("greet", { name: "" })).failure, "Greet needs a name");
  });
});
