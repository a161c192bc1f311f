package switchboard.conformance.javasupport;

import cloudstate.tck.model.crdt.Crdt.Request;
import cloudstate.tck.model.crdt.Crdt.Response;
import io.cloudstate.javasupport.crdt.CommandHandler;
import io.cloudstate.javasupport.crdt.CrdtEntity;

/** CrdtConfigured: declared for the passivation case, which 0.5.2 cannot configure (no passivation strategy in its API); answers an empty Response. */
@CrdtEntity
public final class CrdtConfigured {
  @CommandHandler
  public Response call(Request request) {
    return Response.getDefaultInstance();
  }
}
