import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ScalarType } from "@bufbuild/protobuf";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Code } from "../errors/index.js";
import { extractEntityId } from "./entity-key.js";
import type { KeyField } from "./service-model.js";

const str = (number: number, name = `f${number}`): KeyField => ({ number, name, scalar: ScalarType.STRING });

describe("extractEntityId", () => {
  it("joins several keys with '-' in declaration order, not field-number order", () => {
    const bytes = new BinaryWriter().tag(1, 2).string("b").tag(2, 2).string("a").finish();
    const id = extractEntityId(bytes, [str(2), str(1)], "T");
    assert.equal(id.value, "a-b");
  });

  it("reads integers in decimal and bools as true/false, and skips other fields", () => {
    const bytes = new BinaryWriter().tag(3, 2).string("ignored").tag(1, 0).int64(-42n).tag(2, 0).bool(true).tag(4, 1).fixed64(7n).finish();
    const id = extractEntityId(
      bytes,
      [
        { number: 1, name: "n", scalar: ScalarType.INT64 },
        { number: 2, name: "b", scalar: ScalarType.BOOL },
        { number: 4, name: "f", scalar: ScalarType.FIXED64 },
      ],
      "T",
    );
    assert.equal(id.value, "-42-true-7");
  });

  it("takes the last occurrence of a repeated key field", () => {
    const bytes = new BinaryWriter().tag(1, 2).string("first").tag(1, 2).string("last").finish();
    assert.equal(extractEntityId(bytes, [str(1)], "T").value, "last");
  });

  it("rejects an empty key, malformed framing, a wrong wire type and invalid UTF-8 with INVALID_ARGUMENT", () => {
    const cases: Uint8Array[] = [
      new Uint8Array(),
      new Uint8Array([0x0a, 0x05, 0x61]),
      new BinaryWriter().tag(1, 0).int32(5).finish(),
      new Uint8Array([0x0a, 0x02, 0xc3, 0x28]),
    ];
    for (const bytes of cases) {
      const result = extractEntityId(bytes, [str(1, "id")], "pkg.Request");
      assert.equal(result.error?.code, Code.InvalidArgument, `bytes ${Buffer.from(bytes).toString("hex")}`);
      assert.match(result.error?.rawMessage ?? "", /pkg\.Request/);
    }
  });
});
