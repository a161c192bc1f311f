import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isLoopbackAddress, parseConfig } from "./config.js";

describe("admin port configuration", () => {
  it("defaults to 127.0.0.1:9001 without a token", () => {
    const { config } = parseConfig([], {});
    assert.deepEqual([config?.adminPort, config?.adminBind, config?.adminToken], [9001, "127.0.0.1", undefined]);
  });

  it("takes flags over ADMIN_PORT, ADMIN_BIND and ADMIN_TOKEN", () => {
    const env = { ADMIN_PORT: "9100", ADMIN_BIND: "10.0.0.1", ADMIN_TOKEN: "t" };
    const fromEnv = parseConfig([], env).config;
    assert.deepEqual([fromEnv?.adminPort, fromEnv?.adminBind, fromEnv?.adminToken], [9100, "10.0.0.1", "t"]);
    const { config } = parseConfig(["--admin-port", "0", "--admin-bind", "127.0.0.2", "--admin-token", "u"], env);
    assert.deepEqual([config?.adminPort, config?.adminBind, config?.adminToken], [0, "127.0.0.2", "u"]);
  });

  it("refuses a non-loopback address without a token, unless the port is off", () => {
    assert.match(parseConfig(["--admin-bind", "0.0.0.0"], {}).error ?? "", /^refusing to serve the admin port on 0\.0\.0\.0 without a token/);
    assert.match(parseConfig([], { ADMIN_BIND: "192.168.1.4" }).error ?? "", /on 192\.168\.1\.4 without a token/);
    assert.equal(parseConfig(["--admin-bind", "0.0.0.0", "--admin-token", "x"], {}).error, undefined);
    assert.equal(parseConfig(["--admin-bind", "0.0.0.0", "--admin-port", "0"], {}).error, undefined);
    assert.equal(parseConfig(["--admin-bind", "::1"], {}).error, undefined);
  });

  it("rejects bad ports and the name localhost", () => {
    assert.match(parseConfig(["--admin-port", "70000"], {}).error ?? "", /--admin-port must be a port number/);
    assert.match(parseConfig([], { ADMIN_PORT: "abc" }).error ?? "", /--admin-port must be a port number \(0-65535\), got "abc"/);
    assert.match(parseConfig(["--admin-bind", "localhost"], {}).error ?? "", /not "localhost"/);
  });

  it("knows loopback addresses", () => {
    assert.deepEqual(["127.0.0.1", "127.1.2.3", "::1", "0.0.0.0", "10.0.0.1", "::"].map(isLoopbackAddress), [true, true, true, false, false, false]);
  });
});
