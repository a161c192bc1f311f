"""The canonical event-sourced shopping cart, written against PyPI cloudstate 0.1.1.

Service com.example.shoppingcart.ShoppingCart (protocols/example/shoppingcart/shoppingcart.proto),
persistence id "shopping-cart". Events: persistence.ItemAdded and persistence.ItemRemoved.

No snapshots: cloudstate 0.1.1 cannot start an entity from a snapshot (its init handling passes
the snapshot's Any where it expects a message with a `payload` field, and the stream dies), so
a cart that had been snapshotted could never be loaded again. Recovery replays the journal.

Failures, returned to clients as gRPC UNKNOWN / HTTP 500 (cloudstate 0.1.1 sends the failure
description as the Python repr of its error list, e.g. "['Item apple not in cart']"):
  * adding a quantity below 1: "Cannot add negative quantity to item <product id>"
  * removing a product that is not in the cart: "Item <product id> not in cart"

Run (after `node test/conformance/supports/python-support/setup.mjs`):
    HOST=127.0.0.1 PORT=8080 .tck/python-support/venv/bin/python examples/python-shopping-cart/shopping_cart.py
"""

from dataclasses import dataclass, field
from typing import Dict

import cloudstate_stubs  # noqa: F401  (import paths of the generated modules)

from google.protobuf.empty_pb2 import Empty

from cloudstate.cloudstate import CloudState
from cloudstate.event_sourced_context import EventSourcedCommandContext
from cloudstate.event_sourced_entity import EventSourcedEntity
from shoppingcart import shoppingcart_pb2 as api
from shoppingcart.persistence import domain_pb2 as domain


@dataclass
class CartState:
    """The cart in memory: line items by product id, in the order they were first added."""

    items: Dict[str, domain.LineItem] = field(default_factory=dict)


def initial_state(entity_id: str) -> CartState:
    return CartState()


# cloudstate 0.1.1 reads HOST and PORT itself; it sends the descriptors of the files listed here
# (plus a few well-known ones) in discovery.
entity = EventSourcedEntity(
    api.DESCRIPTOR.services_by_name["ShoppingCart"],
    [api.DESCRIPTOR],
    initial_state,
    persistence_id="shopping-cart",
    snapshot_every=0,
)


# Handler parameters are injected by their type annotations.


@entity.event_handler(domain.ItemAdded)
def item_added(state: CartState, event: domain.ItemAdded):
    existing = state.items.get(event.item.productId)
    if existing is not None:
        existing.quantity += event.item.quantity
    else:
        state.items[event.item.productId] = domain.LineItem(productId=event.item.productId, name=event.item.name, quantity=event.item.quantity)
    return state


@entity.event_handler(domain.ItemRemoved)
def item_removed(state: CartState, event: domain.ItemRemoved):
    state.items.pop(event.productId, None)
    return state


@entity.command_handler("AddItem")
def add_item(state: CartState, command: api.AddLineItem, ctx: EventSourcedCommandContext):
    if command.quantity < 1:
        ctx.fail("Cannot add negative quantity to item %s" % command.product_id)
        return Empty()
    ctx.emit(domain.ItemAdded(item=domain.LineItem(productId=command.product_id, name=command.name, quantity=command.quantity)))
    return Empty()


@entity.command_handler("RemoveItem")
def remove_item(state: CartState, command: api.RemoveLineItem, ctx: EventSourcedCommandContext):
    if command.product_id not in state.items:
        ctx.fail("Item %s not in cart" % command.product_id)
        return Empty()
    ctx.emit(domain.ItemRemoved(productId=command.product_id))
    return Empty()


@entity.command_handler("GetCart")
def get_cart(state: CartState, command: api.GetShoppingCart):
    return api.Cart(items=[api.LineItem(product_id=item.productId, name=item.name, quantity=item.quantity) for item in state.items.values()])


if __name__ == "__main__":
    CloudState().register_event_sourced_entity(entity).start()
