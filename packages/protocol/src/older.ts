/**
 * The CRDT wire from before Cloudstate protocol 0.2 (switchboard.older.crdt), which
 * java-support 0.5.2 speaks: the proxy translates it to and from the 0.2 messages for user
 * functions that report an older protocol. Not part of protocol 0.2.
 */
export * as crdtBefore02 from "./gen/switchboard/older/crdt_pb.js";
