package switchboard.conformance.javasupport;

import cloudstate.tck.model.Eventsourced.Request;
import cloudstate.tck.model.Eventsourced.Response;
import io.cloudstate.javasupport.eventsourced.CommandHandler;
import io.cloudstate.javasupport.eventsourced.EventSourcedEntity;

/**
 * EventSourcedConfigured: answers an empty Response. The TCK expects a 100 ms passivation
 * strategy, which java-support 0.5.2 cannot declare (its discovery sends no passivation strategy).
 */
@EventSourcedEntity(persistenceId = "event-sourced-configured")
public final class EventSourcedConfigured {
  @CommandHandler
  public Response call(Request request) {
    return Response.getDefaultInstance();
  }
}
