package switchboard.conformance.javasupport;

import cloudstate.tck.model.Eventsourced.Persisted;
import cloudstate.tck.model.Eventsourced.Request;
import cloudstate.tck.model.Eventsourced.RequestAction;
import cloudstate.tck.model.Eventsourced.Response;
import io.cloudstate.javasupport.ServiceCallRef;
import io.cloudstate.javasupport.eventsourced.CommandContext;
import io.cloudstate.javasupport.eventsourced.CommandHandler;
import io.cloudstate.javasupport.eventsourced.EventHandler;
import io.cloudstate.javasupport.eventsourced.EventSourcedEntity;
import io.cloudstate.javasupport.eventsourced.EventSourcedEntityCreationContext;
import io.cloudstate.javasupport.eventsourced.Snapshot;
import io.cloudstate.javasupport.eventsourced.SnapshotHandler;
import java.util.Optional;

/**
 * EventSourcedTckModel (protocols/tck/cloudstate/tck/model/eventsourced.proto): the state is the
 * concatenation of the emitted Persisted values, with a snapshot every 5 events.
 *
 * <p>The library applies a command's events only after its handler has returned, so the reply
 * adds the values this command emitted to the state itself.
 */
@EventSourcedEntity(persistenceId = "event-sourced-tck-model", snapshotEvery = 5)
public final class EventSourcedModel {
  static final String TWO = "cloudstate.tck.model.EventSourcedTwo";

  private final ServiceCallRef<Request> twoCall;
  private String value = "";

  public EventSourcedModel(EventSourcedEntityCreationContext context) {
    twoCall = context.serviceCallFactory().lookup(TWO, "Call", Request.class);
  }

  @Snapshot
  public Persisted snapshot() {
    return Persisted.newBuilder().setValue(value).build();
  }

  @SnapshotHandler
  public void restore(Persisted snapshot) {
    value = snapshot.getValue();
  }

  @EventHandler
  public void persisted(Persisted event) {
    value += event.getValue();
  }

  @CommandHandler
  public Optional<Response> process(Request request, CommandContext context) {
    StringBuilder reply = new StringBuilder(value);
    boolean forwarded = false;
    for (RequestAction action : request.getActionsList()) {
      switch (action.getActionCase()) {
        case EMIT:
          context.emit(Persisted.newBuilder().setValue(action.getEmit().getValue()).build());
          reply.append(action.getEmit().getValue());
          break;
        case FORWARD:
          forwarded = true;
          context.forward(twoCall.createCall(Request.newBuilder().setId(action.getForward().getId()).build()));
          break;
        case EFFECT:
          context.effect(
              twoCall.createCall(Request.newBuilder().setId(action.getEffect().getId()).build()),
              action.getEffect().getSynchronous());
          break;
        case FAIL:
          // Throws: the library answers a failure and drops this command's events and effects.
          context.fail(action.getFail().getMessage());
          break;
        default:
          break;
      }
    }
    // A forward is the whole reply (the library rejects a reply together with a forward).
    return forwarded ? Optional.empty() : Optional.of(Response.newBuilder().setMessage(reply.toString()).build());
  }
}
