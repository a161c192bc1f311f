package switchboard.conformance.kotlin

import cloudstate.tck.model.Eventsourced.Persisted
import cloudstate.tck.model.Eventsourced.Request
import cloudstate.tck.model.Eventsourced.RequestAction
import cloudstate.tck.model.Eventsourced.Response
import io.cloudstate.javasupport.ServiceCallRef
import io.cloudstate.javasupport.eventsourced.CommandContext
import io.cloudstate.javasupport.eventsourced.CommandHandler
import io.cloudstate.javasupport.eventsourced.EventHandler
import io.cloudstate.javasupport.eventsourced.EventSourcedEntity
import io.cloudstate.javasupport.eventsourced.EventSourcedEntityCreationContext
import io.cloudstate.javasupport.eventsourced.Snapshot
import io.cloudstate.javasupport.eventsourced.SnapshotHandler
import java.util.Optional

private const val TWO = "cloudstate.tck.model.EventSourcedTwo"

/**
 * EventSourcedTckModel (protocols/tck/cloudstate/tck/model/eventsourced.proto): the state is the
 * concatenation of the emitted Persisted values, with a snapshot every 5 events. The library
 * applies a command's events after its handler returns, so the reply adds them itself.
 */
@EventSourcedEntity(persistenceId = "event-sourced-tck-model", snapshotEvery = 5)
class EventSourcedModel(context: EventSourcedEntityCreationContext) {
    private val twoCall: ServiceCallRef<Request> = context.serviceCallFactory().lookup(TWO, "Call", Request::class.java)
    private var value = ""

    @Snapshot
    fun snapshot(): Persisted = Persisted.newBuilder().setValue(value).build()

    @SnapshotHandler
    fun restore(snapshot: Persisted) {
        value = snapshot.value
    }

    @EventHandler
    fun persisted(event: Persisted) {
        value += event.value
    }

    @CommandHandler
    fun process(request: Request, context: CommandContext): Optional<Response> {
        var reply = value
        var forwarded = false
        for (action in request.actionsList) {
            when (action.actionCase) {
                RequestAction.ActionCase.EMIT -> {
                    context.emit(Persisted.newBuilder().setValue(action.emit.value).build())
                    reply += action.emit.value
                }
                RequestAction.ActionCase.FORWARD -> {
                    forwarded = true
                    context.forward(twoCall.createCall(Request.newBuilder().setId(action.forward.id).build()))
                }
                RequestAction.ActionCase.EFFECT ->
                    context.effect(twoCall.createCall(Request.newBuilder().setId(action.effect.id).build()), action.effect.synchronous)
                // Throws: the library answers a failure and drops this command's events and effects.
                RequestAction.ActionCase.FAIL -> context.fail(action.fail.message)
                else -> {}
            }
        }
        // A forward is the whole reply (the library rejects a reply together with a forward).
        return if (forwarded) Optional.empty() else Optional.of(Response.newBuilder().setMessage(reply).build())
    }
}

/** EventSourcedTwo: the target of the model's forwards and side effects; answers an empty Response. */
@EventSourcedEntity(persistenceId = "event-sourced-tck-model-two")
class EventSourcedTwo {
    @CommandHandler
    fun call(@Suppress("UNUSED_PARAMETER") request: Request): Response = Response.getDefaultInstance()
}

/** EventSourcedConfigured: answers an empty Response (0.5.2 cannot declare its 100 ms passivation). */
@EventSourcedEntity(persistenceId = "event-sourced-configured")
class EventSourcedConfigured {
    @CommandHandler
    fun call(@Suppress("UNUSED_PARAMETER") request: Request): Response = Response.getDefaultInstance()
}
