/** Switchboard's own node-to-node protocol (switchboard.cluster.Mesh): not part of Cloudstate. */
export * as mesh from "./gen/switchboard/cluster/mesh_pb.js";
