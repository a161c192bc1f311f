/**
 * Starts one user function on HOST:PORT (read by the library):
 *   java -cp … switchboard.conformance.kotlin.MainKt tck-model      the event-sourced and CRDT TCK models
 *   java -cp … switchboard.conformance.kotlin.MainKt shopping-cart  the shopping cart
 */
package switchboard.conformance.kotlin

import cloudstate.tck.model.Eventsourced
import cloudstate.tck.model.crdt.Crdt
import com.example.shoppingcart.Shoppingcart
import com.example.shoppingcart.persistence.Domain
import io.cloudstate.javasupport.CloudState
import kotlin.system.exitProcess

fun main(args: Array<String>) {
    val cloudState = CloudState()
    val model = Eventsourced.getDescriptor()
    when (args.firstOrNull()) {
        "tck-model" ->
            cloudState
                .registerEventSourcedEntity(EventSourcedModel::class.java, model.findServiceByName("EventSourcedTckModel"), model)
                .registerEventSourcedEntity(EventSourcedTwo::class.java, model.findServiceByName("EventSourcedTwo"))
                .registerEventSourcedEntity(EventSourcedConfigured::class.java, model.findServiceByName("EventSourcedConfigured"))
                .registerCrdtEntity(CrdtModel::class.java, Crdt.getDescriptor().findServiceByName("CrdtTckModel"), Crdt.getDescriptor())
                .registerCrdtEntity(CrdtTwo::class.java, Crdt.getDescriptor().findServiceByName("CrdtTwo"))
                .registerCrdtEntity(CrdtConfigured::class.java, Crdt.getDescriptor().findServiceByName("CrdtConfigured"))
        "shopping-cart" ->
            cloudState.registerEventSourcedEntity(
                ShoppingCart::class.java,
                Shoppingcart.getDescriptor().findServiceByName("ShoppingCart"),
                Domain.getDescriptor(),
            )
        else -> {
            System.err.println("usage: MainKt tck-model|shopping-cart")
            exitProcess(2)
        }
    }
    cloudState.start().toCompletableFuture().get()
}
