package switchboard.conformance.kotlin

import com.example.shoppingcart.Shoppingcart
import com.example.shoppingcart.persistence.Domain
import com.google.protobuf.Empty
import io.cloudstate.javasupport.eventsourced.CommandContext
import io.cloudstate.javasupport.eventsourced.CommandHandler
import io.cloudstate.javasupport.eventsourced.EventHandler
import io.cloudstate.javasupport.eventsourced.EventSourcedEntity
import io.cloudstate.javasupport.eventsourced.Snapshot
import io.cloudstate.javasupport.eventsourced.SnapshotHandler

/**
 * The event-sourced shopping cart (com.example.shoppingcart.ShoppingCart,
 * protocols/example/shoppingcart/), persistence id "shopping-cart", a snapshot every 5 events.
 * Failures: a quantity below 1 ("Cannot add negative quantity to item <productId>"), removing a
 * product not in the cart ("Item <productId> not in cart").
 */
@EventSourcedEntity(persistenceId = "shopping-cart", snapshotEvery = 5)
class ShoppingCart {
    /** Product id → line item, in the order the products were first added. */
    private val items = linkedMapOf<String, Domain.LineItem>()

    @Snapshot
    fun snapshot(): Domain.Cart = Domain.Cart.newBuilder().addAllItems(items.values).build()

    @SnapshotHandler
    fun restore(cart: Domain.Cart) {
        items.clear()
        cart.itemsList.forEach { items[it.productId] = it }
    }

    @EventHandler
    fun itemAdded(event: Domain.ItemAdded) {
        val added = event.item
        val existing = items[added.productId]
        items[added.productId] = existing?.toBuilder()?.setQuantity(existing.quantity + added.quantity)?.build() ?: added
    }

    @EventHandler
    fun itemRemoved(event: Domain.ItemRemoved) {
        items.remove(event.productId)
    }

    @CommandHandler
    fun addItem(command: Shoppingcart.AddLineItem, context: CommandContext): Empty {
        if (command.quantity < 1) context.fail("Cannot add negative quantity to item ${command.productId}")
        val item = Domain.LineItem.newBuilder().setProductId(command.productId).setName(command.name).setQuantity(command.quantity)
        context.emit(Domain.ItemAdded.newBuilder().setItem(item).build())
        return Empty.getDefaultInstance()
    }

    @CommandHandler
    fun removeItem(command: Shoppingcart.RemoveLineItem, context: CommandContext): Empty {
        if (command.productId !in items) context.fail("Item ${command.productId} not in cart")
        context.emit(Domain.ItemRemoved.newBuilder().setProductId(command.productId).build())
        return Empty.getDefaultInstance()
    }

    @CommandHandler
    fun getCart(): Shoppingcart.Cart =
        Shoppingcart.Cart.newBuilder()
            .addAllItems(
                items.values.map {
                    Shoppingcart.LineItem.newBuilder().setProductId(it.productId).setName(it.name).setQuantity(it.quantity).build()
                },
            )
            .build()
}
