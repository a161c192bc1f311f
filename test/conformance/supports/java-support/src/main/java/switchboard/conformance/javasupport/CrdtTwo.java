package switchboard.conformance.javasupport;

import cloudstate.tck.model.crdt.Crdt.Request;
import cloudstate.tck.model.crdt.Crdt.Response;
import io.cloudstate.javasupport.crdt.CommandHandler;
import io.cloudstate.javasupport.crdt.CrdtEntity;

/** CrdtTwo: the target of the CRDT model's forwards and side effects; answers an empty Response. */
@CrdtEntity
public final class CrdtTwo {
  @CommandHandler
  public Response call(Request request) {
    return Response.getDefaultInstance();
  }
}
