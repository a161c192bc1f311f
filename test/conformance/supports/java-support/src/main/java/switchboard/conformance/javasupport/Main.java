package switchboard.conformance.javasupport;

import cloudstate.tck.model.Eventsourced;
import cloudstate.tck.model.crdt.Crdt;
import com.example.shoppingcart.Shoppingcart;
import com.example.shoppingcart.persistence.Domain;
import io.cloudstate.javasupport.CloudState;

/**
 * Starts one user function on HOST:PORT (read by the library):
 *
 * <pre>
 *   java -cp … switchboard.conformance.javasupport.Main tck-model      the TCK models
 *   java -cp … switchboard.conformance.javasupport.Main shopping-cart  the shopping cart
 * </pre>
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    String which = args.length > 0 ? args[0] : "";
    CloudState cloudState = new CloudState();
    switch (which) {
      case "tck-model":
        cloudState
            .registerEventSourcedEntity(
                EventSourcedModel.class,
                Eventsourced.getDescriptor().findServiceByName("EventSourcedTckModel"),
                Eventsourced.getDescriptor())
            .registerEventSourcedEntity(
                EventSourcedTwo.class, Eventsourced.getDescriptor().findServiceByName("EventSourcedTwo"))
            .registerEventSourcedEntity(
                EventSourcedConfigured.class, Eventsourced.getDescriptor().findServiceByName("EventSourcedConfigured"))
            .registerCrdtEntity(CrdtModel.class, Crdt.getDescriptor().findServiceByName("CrdtTckModel"), Crdt.getDescriptor())
            .registerCrdtEntity(CrdtTwo.class, Crdt.getDescriptor().findServiceByName("CrdtTwo"))
            .registerCrdtEntity(CrdtConfigured.class, Crdt.getDescriptor().findServiceByName("CrdtConfigured"));
        break;
      case "shopping-cart":
        cloudState.registerEventSourcedEntity(
            ShoppingCart.class, Shoppingcart.getDescriptor().findServiceByName("ShoppingCart"), Domain.getDescriptor());
        break;
      default:
        System.err.println("usage: Main tck-model|shopping-cart");
        System.exit(2);
    }
    cloudState.start().toCompletableFuture().get();
  }
}
