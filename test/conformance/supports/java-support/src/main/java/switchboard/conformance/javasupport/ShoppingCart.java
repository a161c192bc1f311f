package switchboard.conformance.javasupport;

import com.example.shoppingcart.Shoppingcart;
import com.example.shoppingcart.persistence.Domain;
import com.google.protobuf.Empty;
import io.cloudstate.javasupport.eventsourced.CommandContext;
import io.cloudstate.javasupport.eventsourced.CommandHandler;
import io.cloudstate.javasupport.eventsourced.EventHandler;
import io.cloudstate.javasupport.eventsourced.EventSourcedEntity;
import io.cloudstate.javasupport.eventsourced.Snapshot;
import io.cloudstate.javasupport.eventsourced.SnapshotHandler;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The event-sourced shopping cart (com.example.shoppingcart.ShoppingCart,
 * protocols/example/shoppingcart/), persistence id "shopping-cart", a snapshot every 5 events.
 *
 * <p>Failures: adding a quantity below 1 ("Cannot add negative quantity to item &lt;productId&gt;"),
 * removing a product that is not in the cart ("Item &lt;productId&gt; not in cart").
 */
@EventSourcedEntity(persistenceId = "shopping-cart", snapshotEvery = 5)
public final class ShoppingCart {
  /** Product id → line item, in the order the products were first added. */
  private final Map<String, Domain.LineItem> items = new LinkedHashMap<>();

  @Snapshot
  public Domain.Cart snapshot() {
    return Domain.Cart.newBuilder().addAllItems(items.values()).build();
  }

  @SnapshotHandler
  public void restore(Domain.Cart cart) {
    items.clear();
    for (Domain.LineItem item : cart.getItemsList()) items.put(item.getProductId(), item);
  }

  @EventHandler
  public void itemAdded(Domain.ItemAdded event) {
    Domain.LineItem added = event.getItem();
    Domain.LineItem existing = items.get(added.getProductId());
    items.put(
        added.getProductId(),
        existing == null ? added : existing.toBuilder().setQuantity(existing.getQuantity() + added.getQuantity()).build());
  }

  @EventHandler
  public void itemRemoved(Domain.ItemRemoved event) {
    items.remove(event.getProductId());
  }

  @CommandHandler
  public Empty addItem(Shoppingcart.AddLineItem command, CommandContext context) {
    if (command.getQuantity() < 1) {
      context.fail("Cannot add negative quantity to item " + command.getProductId());
    }
    context.emit(
        Domain.ItemAdded.newBuilder()
            .setItem(
                Domain.LineItem.newBuilder()
                    .setProductId(command.getProductId())
                    .setName(command.getName())
                    .setQuantity(command.getQuantity()))
            .build());
    return Empty.getDefaultInstance();
  }

  @CommandHandler
  public Empty removeItem(Shoppingcart.RemoveLineItem command, CommandContext context) {
    if (!items.containsKey(command.getProductId())) {
      context.fail("Item " + command.getProductId() + " not in cart");
    }
    context.emit(Domain.ItemRemoved.newBuilder().setProductId(command.getProductId()).build());
    return Empty.getDefaultInstance();
  }

  @CommandHandler
  public Shoppingcart.Cart getCart() {
    Shoppingcart.Cart.Builder cart = Shoppingcart.Cart.newBuilder();
    for (Domain.LineItem item : items.values()) {
      cart.addItems(
          Shoppingcart.LineItem.newBuilder()
              .setProductId(item.getProductId())
              .setName(item.getName())
              .setQuantity(item.getQuantity()));
    }
    return cart.build();
  }
}
