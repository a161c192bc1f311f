/**
 * Pre-encoded request messages of the scenarios. The load generator never builds a
 * message during a run: requests are encoded once here (per key) and framed once.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { ActionCommandSchema } from "@switchboard/protocol";
import { action, crdt, eventsourced, valueentity } from "@switchboard/protocol/tck";
import { IncreaseValueSchema } from "../../examples/counter/src/gen/counter_pb.js";
import { AddLineItemSchema, GetShoppingCartSchema } from "../../examples/shopping-cart/src/gen/shoppingcart/shoppingcart_pb.js";
import { frame } from "../load/grpc.js";

/** Methods the scenarios call. */
export const PATHS = {
  actionProcessUnary: "/cloudstate.tck.model.action.ActionTckModel/ProcessUnary",
  actionHandleUnary: "/cloudstate.action.ActionProtocol/handleUnary",
  valueEntityProcess: "/cloudstate.tck.model.valueentity.ValueEntityTckModel/Process",
  eventSourcedProcess: "/cloudstate.tck.model.EventSourcedTckModel/Process",
  counterIncrease: "/com.example.counter.CounterService/Increase",
  cartAddItem: "/com.example.shoppingcart.ShoppingCart/AddItem",
  cartGet: "/com.example.shoppingcart.ShoppingCart/GetCart",
  crdtProcess: "/cloudstate.tck.model.crdt.CrdtTckModel/Process",
  crdtProcessStreamed: "/cloudstate.tck.model.crdt.CrdtTckModel/ProcessStreamed",
} as const;

/** The Action request of the unary scenario: one group with one reply step. */
export function actionRequest(message = "hello"): Uint8Array {
  return toBinary(action.RequestSchema, create(action.RequestSchema, { groups: [{ steps: [{ step: { case: "reply", value: { message } } }] }] }));
}

/**
 * The ActionCommand the proxy sends the user function for {@link actionRequest}: the
 * same service and method names, the request as an Any, and empty metadata (the load
 * generator sends no headers that become metadata).
 */
export function actionCommandFor(request: Uint8Array): Uint8Array {
  return toBinary(
    ActionCommandSchema,
    create(ActionCommandSchema, {
      serviceName: "cloudstate.tck.model.action.ActionTckModel",
      name: "ProcessUnary",
      payload: { typeUrl: `type.googleapis.com/${action.RequestSchema.typeName}`, value: request },
      metadata: { entries: [] },
    }),
  );
}

/** Framed value-entity `update` requests, one per key `ve-0` … `ve-<keys-1>`. */
export function valueEntityUpdates(keys: number, value = "1"): Buffer[] {
  return Array.from({ length: keys }, (_, i) =>
    frame(
      toBinary(valueentity.RequestSchema, create(valueentity.RequestSchema, { id: `ve-${i}`, actions: [{ action: { case: "update", value: { value } } }] })),
    ),
  );
}

/** Framed counter `Increase` requests (value 1), one per key `c-0` … `c-<keys-1>`. */
export function counterIncreases(keys: number): Buffer[] {
  return Array.from({ length: keys }, (_, i) => frame(toBinary(IncreaseValueSchema, create(IncreaseValueSchema, { counterId: `c-${i}`, value: 1n }))));
}

/** A framed event-sourced request emitting one event `value` on entity `id`. */
export function emitRequest(id: string, value = "x"): Buffer {
  return frame(toBinary(eventsourced.RequestSchema, create(eventsourced.RequestSchema, { id, actions: [{ action: { case: "emit", value: { value } } }] })));
}

/** A framed event-sourced request that emits nothing (a read of entity `id`). */
export function readRequest(id: string): Buffer {
  return frame(toBinary(eventsourced.RequestSchema, create(eventsourced.RequestSchema, { id, actions: [] })));
}

/** The stored form of one model event: the Any of a `Persisted{value}`. */
export function persistedEvent(value: string): { typeUrl: string; value: Uint8Array } {
  const any = anyPack(eventsourced.PersistedSchema, create(eventsourced.PersistedSchema, { value }));
  return { typeUrl: any.typeUrl, value: any.value };
}

/** A framed AddItem (one unit of product `p-1`) to the cart of `userId`. */
export function addItemRequest(userId: string): Buffer {
  return frame(toBinary(AddLineItemSchema, create(AddLineItemSchema, { userId, productId: "p-1", name: "bench item", quantity: 1 })));
}

/** A framed GetCart of `userId`. */
export function getCartRequest(userId: string): Buffer {
  return frame(toBinary(GetShoppingCartSchema, create(GetShoppingCartSchema, { userId })));
}

/** A framed CRDT TCK `Process` adding `change` to the PNCounter `id` (`PNCounter-…`); no actions with change undefined (a read). */
export function pnCounterRequest(id: string, change?: bigint): Buffer {
  const actions = change === undefined ? [] : [{ action: { case: "update" as const, value: { update: { case: "pncounter" as const, value: { change } } } } }];
  return frame(toBinary(crdt.RequestSchema, create(crdt.RequestSchema, { id, actions })));
}

/** A framed CRDT TCK `ProcessStreamed` watching entity `id`: its state now, then on every change. */
export function crdtWatchRequest(id: string): Buffer {
  return frame(toBinary(crdt.StreamedRequestSchema, create(crdt.StreamedRequestSchema, { id })));
}

/** The PNCounter value in a CRDT TCK `Response` (undefined if it holds no PNCounter state). */
export function pnCounterValue(reply: Uint8Array): bigint | undefined {
  const state = fromBinary(crdt.ResponseSchema, reply).state?.value;
  return state?.case === "pncounter" ? state.value.value : undefined;
}
