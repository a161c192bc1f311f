import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { EventSourcedStreamInSchema } from "@switchboard/protocol";
import { encodeReplay } from "./codec.js";

describe("encodeReplay", () => {
  it("writes exactly what protobuf-es writes for each event", () => {
    const events = [
      { seq: 1, payload: { typeUrl: "type.googleapis.com/a.B", value: new Uint8Array([1, 2, 3]) } },
      { seq: 300, payload: { typeUrl: "json.cloudstate.io/Thing", value: new Uint8Array() } },
      { seq: 2 ** 40 + 7, payload: { typeUrl: "type.googleapis.com/a.B", value: new Uint8Array(200).fill(9) } },
    ];
    const expected = events.map((e) =>
      toBinary(
        EventSourcedStreamInSchema,
        create(EventSourcedStreamInSchema, {
          message: { case: "event", value: { sequence: BigInt(e.seq), payload: { typeUrl: e.payload.typeUrl, value: e.payload.value } } },
        }),
      ),
    );
    assert.deepEqual(
      encodeReplay(events).map((m) => Buffer.from(m)),
      expected.map((m) => Buffer.from(m)),
    );
    assert.deepEqual(encodeReplay([]), []);
  });
});
