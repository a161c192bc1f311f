package switchboard.conformance.javasupport;

import cloudstate.tck.model.Eventsourced.Request;
import cloudstate.tck.model.Eventsourced.Response;
import io.cloudstate.javasupport.eventsourced.CommandHandler;
import io.cloudstate.javasupport.eventsourced.EventSourcedEntity;

/** EventSourcedTwo: the target of the model's forwards and side effects; answers an empty Response. */
@EventSourcedEntity(persistenceId = "event-sourced-tck-model-two")
public final class EventSourcedTwo {
  @CommandHandler
  public Response call(Request request) {
    return Response.getDefaultInstance();
  }
}
