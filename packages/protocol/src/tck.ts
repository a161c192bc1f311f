/** The Cloudstate TCK model services, one namespace per model file. */
export * as action from "./gen/cloudstate/tck/model/action_pb.js";
export * as crdt from "./gen/cloudstate/tck/model/crdt_pb.js";
export * as eventlogeventing from "./gen/cloudstate/tck/model/eventlogeventing_pb.js";
export * as eventsourced from "./gen/cloudstate/tck/model/eventsourced_pb.js";
export * as valueentity from "./gen/cloudstate/tck/model/valueentity_pb.js";
