/**
 * End-to-end check of python-support (PyPI cloudstate 0.1.1) against Switchboard; see
 * ../node-support/check.ts.
 *
 *   npx tsx test/conformance/supports/python-support/check.ts
 */
import { checkSupport } from "../node-support/check.js";
import { pythonSupport } from "./index.js";

const snapshotInit = "cloudstate 0.1.1 fails the stream on an init with a snapshot (get_payload() on an Any)";
const description = "cloudstate 0.1.1 sends str() of its error list as the failure description";
process.exitCode =
  (await checkSupport(pythonSupport, {
    "model: configured entity passivation strategy": "cloudstate 0.1.1 sends no passivation strategy",
    "model: initial snapshot and events": snapshotInit,
    "proxy: state recovered after a proxy restart (snapshot + events)": snapshotInit,
    "model: failure description": description,
    "proxy: failure description over gRPC": description,
    "proxy: failure description over HTTP": description,
  })) > 0
    ? 1
    : 0;
