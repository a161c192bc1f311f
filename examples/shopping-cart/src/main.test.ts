/**
 * Runs the example as a real user function process (HOST/PORT from the environment, as a proxy
 * would start it) and talks the Cloudstate protocol to it.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { create, createFileRegistry, fromBinary, getOption } from "@bufbuild/protobuf";
import { anyPack, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import type { EntitySpec, EventSourcedStreamIn, EventSourcedStreamOut } from "@switchboard/protocol";
import { EntityDiscovery, EventSourced, EventSourcedStreamInSchema, http, ProxyInfoSchema } from "@switchboard/protocol";
import { createGrpcServiceDefinition } from "@switchboard/sdk/internal";
import { startUserFunction, type TestUserFunction } from "@switchboard/sdk/testing";
import { CartSchema as DomainCartSchema, ItemAddedSchema } from "./gen/shoppingcart/persistence/domain_pb.js";
import { AddLineItemSchema, CartSchema, GetShoppingCartSchema } from "./gen/shoppingcart/shoppingcart_pb.js";

const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
const mainTs = fileURLToPath(new URL("./main.ts", import.meta.url));
const discovery = createGrpcServiceDefinition(EntityDiscovery);
const eventSourced = createGrpcServiceDefinition(EventSourced);
const SERVICE = "com.example.shoppingcart.ShoppingCart";

describe("the shopping cart example as a process", () => {
  let userFunction: TestUserFunction | undefined;
  let port: number;
  let client: Client;

  before(async () => {
    userFunction = await startUserFunction({ entry: mainTs, cwd: repoRoot });
    port = userFunction.port;
    client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await userFunction?.stop("SIGKILL");
  });

  it("answers discover with the event-sourced cart, its HTTP routes and its persisted types", async () => {
    const spec = await new Promise<EntitySpec>((resolve, reject) => {
      client.makeUnaryRequest(
        discovery.discover.path,
        discovery.discover.requestSerialize,
        discovery.discover.responseDeserialize,
        create(ProxyInfoSchema, { protocolMajorVersion: 0, protocolMinorVersion: 2, proxyName: "test" }),
        new Metadata(),
        (error, response) => (error || !response ? reject(error) : resolve(response)),
      );
    });
    assert.deepEqual(
      spec.entities.map((e) => [e.entityType, e.serviceName, e.persistenceId]),
      [["cloudstate.eventsourced.EventSourced", SERVICE, "shopping-cart"]],
    );
    assert.equal(spec.serviceInfo?.serviceName, "shopping-cart-example");
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, spec.proto));
    const getCart = registry.getService(SERVICE)?.method.getCart;
    assert.ok(getCart);
    const rule = getOption(getCart, http);
    assert.deepEqual([rule.pattern.case, rule.pattern.value], ["get", "/carts/{user_id}"]);
    assert.ok(registry.getMessage("com.example.shoppingcart.persistence.ItemAdded"), "the event types are described too");
  });

  it("runs a cart stream: replay from a snapshot and events, then a command emitting an event", async () => {
    const call: ClientDuplexStream<EventSourcedStreamIn, EventSourcedStreamOut> = client.makeBidiStreamRequest(
      eventSourced.handle.path,
      eventSourced.handle.requestSerialize,
      eventSourced.handle.responseDeserialize,
      new Metadata(),
    );
    const outs: EventSourcedStreamOut[] = [];
    call.on("data", (m: EventSourcedStreamOut) => outs.push(m));
    const ended = once(call, "status");
    const send = (init: MessageInitShape<typeof EventSourcedStreamInSchema>) => call.write(create(EventSourcedStreamInSchema, init));
    const snapshot = anyPack(DomainCartSchema, create(DomainCartSchema, { items: [{ productId: "apple", name: "Apple", quantity: 1 }] }));
    send({ message: { case: "init", value: { serviceName: SERVICE, entityId: "u1", snapshot: { snapshotSequence: 4n, snapshot } } } });
    const event = anyPack(ItemAddedSchema, create(ItemAddedSchema, { item: { productId: "pear", name: "Pear", quantity: 2 } }));
    send({ message: { case: "event", value: { sequence: 5n, payload: event } } });
    send({
      message: {
        case: "command",
        value: {
          entityId: "u1",
          id: 1n,
          name: "AddItem",
          payload: anyPack(AddLineItemSchema, create(AddLineItemSchema, { userId: "u1", productId: "apple", name: "Apple", quantity: 2 })),
        },
      },
    });
    send({
      message: {
        case: "command",
        value: { entityId: "u1", id: 2n, name: "GetCart", payload: anyPack(GetShoppingCartSchema, create(GetShoppingCartSchema, { userId: "u1" })) },
      },
    });
    call.end();
    await ended;
    assert.equal(outs.length, 2);
    const [add, get] = outs;
    assert.equal(add?.message.case, "reply");
    const events = add?.message.case === "reply" ? add.message.value.events : [];
    assert.deepEqual(
      events.map((e) => [e.typeUrl, fromBinary(ItemAddedSchema, e.value).item?.quantity]),
      [["type.googleapis.com/com.example.shoppingcart.persistence.ItemAdded", 2]],
    );
    const reply = get?.message.case === "reply" ? get.message.value.clientAction?.action : undefined;
    assert.equal(reply?.case, "reply");
    const cart = fromBinary(CartSchema, reply?.value.payload?.value ?? new Uint8Array());
    assert.deepEqual(
      cart.items.map((i) => [i.productId, i.quantity]),
      [
        ["apple", 3],
        ["pear", 2],
      ],
    );
  });

  it("exits with code 0 on SIGTERM", async () => {
    const code = await userFunction?.stop("SIGTERM");
    assert.equal(code, 0);
  });
});
