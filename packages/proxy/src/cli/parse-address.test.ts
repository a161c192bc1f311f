import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defaultAddress, parseAddress } from "./parse-address.js";

describe("parseAddress()", () => {
  it("accepts host:port, [ipv6]:port, a bare port and an http URL", () => {
    assert.deepEqual(parseAddress("127.0.0.1:9000"), { host: "127.0.0.1", port: 9000 });
    assert.deepEqual(parseAddress("localhost:29000"), { host: "localhost", port: 29000 });
    assert.deepEqual(parseAddress("[::1]:9000"), { host: "::1", port: 9000 });
    assert.deepEqual(parseAddress("9001"), { host: "127.0.0.1", port: 9001 });
    assert.deepEqual(parseAddress("http://localhost:29000"), { host: "localhost", port: 29000 });
    assert.deepEqual(parseAddress("http://localhost:29000/"), { host: "localhost", port: 29000 });
    assert.deepEqual(parseAddress("http://[::1]:9000"), { host: "::1", port: 9000 });
    assert.deepEqual(parseAddress("http://example.test"), { host: "example.test", port: 80 });
  });

  it("says what is wrong with anything else", () => {
    assert.equal(parseAddress("localhost"), '--address must be host:port or http://host:port, got "localhost"');
    assert.equal(parseAddress("localhost:99999"), '--address must be host:port or http://host:port, got "localhost:99999"');
    assert.equal(parseAddress("https://localhost:9000"), '--address: only http:// is served by the front port, got "https://localhost:9000"');
    assert.equal(parseAddress(":9000"), '--address must be host:port or http://host:port, got ":9000"');
  });

  it("defaults to 127.0.0.1 and HTTP_PORT", () => {
    assert.equal(defaultAddress(undefined, {}), "127.0.0.1:9000");
    assert.equal(defaultAddress(undefined, { HTTP_PORT: "9100" }), "127.0.0.1:9100");
    assert.equal(defaultAddress("h:1", { HTTP_PORT: "9100" }), "h:1");
  });
});
