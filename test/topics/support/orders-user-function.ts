/**
 * The user function of the topic tests, written with the TypeScript SDK and served on a
 * real port: `OrderProcessor` turns orders from the "orders" topic into shipments (and
 * fails orders marked `fail`), `OrderAudit` records every order in its own consumer
 * group, the `ItemTally` value entity adds up the shipments per item, and
 * `LedgerPublisher` republishes the events of the `OrderLedger` event-sourced entity. It records
 * what each handler saw, with the CloudEvents attributes.
 */
import type { CloudEvent } from "@switchboard/sdk";
import { action, createServer, eventSourcedEntity, type RunningServer, valueEntity } from "@switchboard/sdk";
import {
  ItemTally,
  LedgerPublisher,
  LedgerSchema,
  type Order,
  OrderAudit,
  OrderLedger,
  OrderPlacedSchema,
  OrderProcessor,
  TallySchema,
} from "../gen/switchboard/test/topics/orders_pb.js";

/** One handler call as the user function saw it. */
export interface SeenCall {
  readonly method: string;
  readonly orderId: string;
  readonly cloudEvent: CloudEvent | undefined;
}

/** The running user function and what it saw. */
export interface OrdersUserFunction {
  readonly port: number;
  readonly calls: SeenCall[];
  /** Calls of one method. */
  callsOf(method: string): SeenCall[];
  /** Lets the held orders (`hold: true`) go on; orders held later go on at once. */
  release(): void;
  close(): Promise<void>;
}

/** Starts the orders user function on 127.0.0.1 (a free port unless `port` is given). */
export async function startOrdersUserFunction(port = 0): Promise<OrdersUserFunction> {
  const calls: SeenCall[] = [];
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const processor = action({
    service: OrderProcessor,
    handlers: {
      async process(order: Order, ctx) {
        calls.push({ method: "Process", orderId: order.orderId, cloudEvent: ctx.cloudEvent });
        if (order.hold) await released;
        if (order.fail) ctx.fail(`order ${order.orderId} cannot be shipped`);
        return { orderId: order.orderId, item: order.item, quantity: order.quantity };
      },
      cancel(cancellation, ctx) {
        calls.push({ method: "Cancel", orderId: cancellation.orderId, cloudEvent: ctx.cloudEvent });
        return {};
      },
      shipNow(order, ctx) {
        calls.push({ method: "ShipNow", orderId: order.orderId, cloudEvent: ctx.cloudEvent });
        return { orderId: order.orderId, item: order.item, quantity: order.quantity };
      },
    },
  });
  const audit = action({
    service: OrderAudit,
    handlers: {
      record(order, ctx) {
        calls.push({ method: "Record", orderId: order.orderId, cloudEvent: ctx.cloudEvent });
        return {};
      },
    },
  });
  const tally = valueEntity({
    service: ItemTally,
    persistenceId: "item-tally",
    state: TallySchema,
    handlers: {
      add(shipment, ctx) {
        calls.push({ method: "Add", orderId: shipment.orderId, cloudEvent: undefined });
        const next = { item: shipment.item, quantity: ctx.state.quantity + shipment.quantity, shipments: ctx.state.shipments + 1 };
        ctx.updateState(next);
        return next;
      },
      get: (_request, ctx) => ctx.state,
    },
  });
  const ledger = eventSourcedEntity({
    service: OrderLedger,
    persistenceId: "order-ledger",
    state: LedgerSchema,
    eventTypes: [OrderPlacedSchema],
    events: {
      OrderPlaced(state, event) {
        state.items.push(event.item);
      },
    },
    handlers: {
      place(request, ctx) {
        ctx.emit(OrderPlacedSchema, { orderId: request.orderId, item: request.item });
        return {};
      },
    },
  });
  const ledgerPublisher = action({
    service: LedgerPublisher,
    handlers: {
      publish(event, ctx) {
        calls.push({ method: "Publish", orderId: event.orderId, cloudEvent: ctx.cloudEvent });
        return { orderId: event.orderId, item: event.item.toUpperCase() };
      },
    },
  });
  const running: RunningServer = await createServer({ entities: [processor, audit, tally, ledger, ledgerPublisher] }).listen({ host: "127.0.0.1", port });
  return {
    port: running.port,
    calls,
    callsOf: (method) => calls.filter((c) => c.method === method),
    release: () => release(),
    close: () => running.close(),
  };
}
