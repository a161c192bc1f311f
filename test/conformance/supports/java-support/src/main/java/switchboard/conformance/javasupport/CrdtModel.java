package switchboard.conformance.javasupport;

import cloudstate.tck.model.crdt.Crdt.Effect;
import cloudstate.tck.model.crdt.Crdt.FlagValue;
import cloudstate.tck.model.crdt.Crdt.GCounterValue;
import cloudstate.tck.model.crdt.Crdt.GSetValue;
import cloudstate.tck.model.crdt.Crdt.LWWRegisterClock;
import cloudstate.tck.model.crdt.Crdt.LWWRegisterValue;
import cloudstate.tck.model.crdt.Crdt.ORMapEntryValue;
import cloudstate.tck.model.crdt.Crdt.ORMapUpdate;
import cloudstate.tck.model.crdt.Crdt.ORMapValue;
import cloudstate.tck.model.crdt.Crdt.ORSetUpdate;
import cloudstate.tck.model.crdt.Crdt.ORSetValue;
import cloudstate.tck.model.crdt.Crdt.PNCounterValue;
import cloudstate.tck.model.crdt.Crdt.Request;
import cloudstate.tck.model.crdt.Crdt.RequestAction;
import cloudstate.tck.model.crdt.Crdt.Response;
import cloudstate.tck.model.crdt.Crdt.State;
import cloudstate.tck.model.crdt.Crdt.StreamedRequest;
import cloudstate.tck.model.crdt.Crdt.Update;
import cloudstate.tck.model.crdt.Crdt.VoteValue;
import io.cloudstate.javasupport.ServiceCallRef;
import io.cloudstate.javasupport.crdt.CommandContext;
import io.cloudstate.javasupport.crdt.CommandHandler;
import io.cloudstate.javasupport.crdt.CrdtContext;
import io.cloudstate.javasupport.crdt.CrdtCreationContext;
import io.cloudstate.javasupport.crdt.CrdtEntity;
import io.cloudstate.javasupport.crdt.CrdtFactory;
import io.cloudstate.javasupport.crdt.Flag;
import io.cloudstate.javasupport.crdt.GCounter;
import io.cloudstate.javasupport.crdt.GSet;
import io.cloudstate.javasupport.crdt.LWWRegister;
import io.cloudstate.javasupport.crdt.ORMap;
import io.cloudstate.javasupport.crdt.ORSet;
import io.cloudstate.javasupport.crdt.PNCounter;
import io.cloudstate.javasupport.crdt.StreamedCommandContext;
import io.cloudstate.javasupport.crdt.Vote;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * CrdtTckModel (protocols/tck/cloudstate/tck/model/crdt.proto) on the java-support 0.5.2 CRDT
 * API. The prefix of the entity id (`GCounter-3`) names the CRDT type, and so does the prefix of
 * each ORMap key for the value under it. Every reply carries the CRDT's value as a model State
 * (sets and map entries sorted).
 *
 * <p>0.5.2 has no write consistency in its API: an update's write_consistency is not passed on.
 */
@CrdtEntity
public final class CrdtModel {
  static final String TWO = "cloudstate.tck.model.crdt.CrdtTwo";

  private final io.cloudstate.javasupport.crdt.Crdt crdt;
  private final ServiceCallRef<Request> twoCall;

  public CrdtModel(CrdtCreationContext context) {
    String type = typeOf(context.entityId());
    Optional<io.cloudstate.javasupport.crdt.Crdt> found = existing(type, context).map(c -> c);
    crdt = found.orElseGet(() -> newCrdt(type, context));
    twoCall = context.serviceCallFactory().lookup(TWO, "Call", Request.class);
  }

  /** The CRDT type a name stands for: the text before its first `-`. */
  private static String typeOf(String name) {
    int dash = name.indexOf('-');
    return dash < 0 ? name : name.substring(0, dash);
  }

  private static Optional<? extends io.cloudstate.javasupport.crdt.Crdt> existing(String type, CrdtContext context) {
    switch (type) {
      case "GCounter":
        return context.state(GCounter.class);
      case "PNCounter":
        return context.state(PNCounter.class);
      case "GSet":
        return context.state(GSet.class);
      case "ORSet":
        return context.state(ORSet.class);
      case "LWWRegister":
        return context.state(LWWRegister.class);
      case "Flag":
        return context.state(Flag.class);
      case "ORMap":
        return context.state(ORMap.class);
      case "Vote":
        return context.state(Vote.class);
      default:
        throw new IllegalArgumentException("no CRDT type named " + type);
    }
  }

  private static io.cloudstate.javasupport.crdt.Crdt newCrdt(String type, CrdtFactory factory) {
    switch (type) {
      case "GCounter":
        return factory.newGCounter();
      case "PNCounter":
        return factory.newPNCounter();
      case "GSet":
        return factory.<String>newGSet();
      case "ORSet":
        return factory.<String>newORSet();
      case "LWWRegister":
        return factory.newLWWRegister("");
      case "Flag":
        return factory.newFlag();
      case "ORMap":
        return factory.<String, io.cloudstate.javasupport.crdt.Crdt>newORMap();
      case "Vote":
        return factory.newVote();
      default:
        throw new IllegalArgumentException("no CRDT type named " + type);
    }
  }

  @CommandHandler
  public Optional<Response> process(Request request, CommandContext context) {
    boolean forwarded = false;
    for (RequestAction action : request.getActionsList()) {
      switch (action.getActionCase()) {
        case UPDATE:
          apply(crdt, action.getUpdate());
          break;
        case DELETE:
          context.delete();
          break;
        case FORWARD:
          forwarded = true;
          context.forward(twoCall.createCall(request(action.getForward().getId())));
          break;
        case EFFECT:
          context.effect(twoCall.createCall(request(action.getEffect().getId())), action.getEffect().getSynchronous());
          break;
        case FAIL:
          throw context.fail(action.getFail().getMessage());
        default:
          break;
      }
    }
    return forwarded ? Optional.empty() : Optional.of(response());
  }

  @CommandHandler
  public Optional<Response> processStreamed(StreamedRequest request, StreamedCommandContext<Response> context) {
    if (context.isStreamed()) {
      context.onChange(
          subscription -> {
            for (Effect effect : request.getEffectsList()) {
              subscription.effect(twoCall.createCall(request(effect.getId())), effect.getSynchronous());
            }
            if (request.hasEndState() && stateOf(crdt).equals(request.getEndState())) subscription.endStream();
            return request.getEmpty() ? Optional.empty() : Optional.of(response());
          });
      if (request.hasCancelUpdate()) context.onCancel(cancelled -> apply(crdt, request.getCancelUpdate()));
    }
    if (request.hasInitialUpdate()) apply(crdt, request.getInitialUpdate());
    return request.getEmpty() ? Optional.empty() : Optional.of(response());
  }

  private static Request request(String id) {
    return Request.newBuilder().setId(id).build();
  }

  private Response response() {
    return Response.newBuilder().setState(stateOf(crdt)).build();
  }

  @SuppressWarnings("unchecked")
  private static void apply(io.cloudstate.javasupport.crdt.Crdt target, Update update) {
    switch (update.getUpdateCase()) {
      case GCOUNTER:
        ((GCounter) target).increment(update.getGcounter().getIncrement());
        break;
      case PNCOUNTER:
        ((PNCounter) target).increment(update.getPncounter().getChange());
        break;
      case GSET:
        ((GSet<String>) target).add(update.getGset().getAdd());
        break;
      case ORSET:
        applyORSet((ORSet<String>) target, update.getOrset());
        break;
      case LWWREGISTER:
        {
          LWWRegister<String> register = (LWWRegister<String>) target;
          String value = update.getLwwregister().getValue();
          LWWRegisterClock clock = update.getLwwregister().getClock();
          switch (clock.getClockType()) {
            case REVERSE:
              register.set(value, LWWRegister.Clock.REVERSE, 0);
              break;
            case CUSTOM:
              register.set(value, LWWRegister.Clock.CUSTOM, clock.getCustomClockValue());
              break;
            case CUSTOM_AUTO_INCREMENT:
              register.set(value, LWWRegister.Clock.CUSTOM_AUTO_INCREMENT, clock.getCustomClockValue());
              break;
            default:
              register.set(value);
              break;
          }
          break;
        }
      case FLAG:
        ((Flag) target).enable();
        break;
      case ORMAP:
        applyORMap((ORMap<String, io.cloudstate.javasupport.crdt.Crdt>) target, update.getOrmap());
        break;
      case VOTE:
        ((Vote) target).vote(update.getVote().getSelfVote());
        break;
      default:
        break;
    }
  }

  private static void applyORSet(ORSet<String> set, ORSetUpdate update) {
    switch (update.getActionCase()) {
      case ADD:
        set.add(update.getAdd());
        break;
      case REMOVE:
        set.remove(update.getRemove());
        break;
      case CLEAR:
        if (update.getClear()) set.clear();
        break;
      default:
        break;
    }
  }

  private static void applyORMap(ORMap<String, io.cloudstate.javasupport.crdt.Crdt> map, ORMapUpdate update) {
    switch (update.getActionCase()) {
      case ADD:
        {
          String key = update.getAdd();
          map.getOrCreate(key, factory -> newCrdt(typeOf(key), factory));
          break;
        }
      case UPDATE:
        {
          String key = update.getUpdate().getKey();
          apply(map.getOrCreate(key, factory -> newCrdt(typeOf(key), factory)), update.getUpdate().getUpdate());
          break;
        }
      case REMOVE:
        map.remove(update.getRemove());
        break;
      case CLEAR:
        map.clear();
        break;
      default:
        break;
    }
  }

  /** The model State of a CRDT value. */
  @SuppressWarnings("unchecked")
  private static State stateOf(io.cloudstate.javasupport.crdt.Crdt value) {
    State.Builder state = State.newBuilder();
    if (value instanceof GCounter) {
      state.setGcounter(GCounterValue.newBuilder().setValue(((GCounter) value).getValue()));
    } else if (value instanceof PNCounter) {
      state.setPncounter(PNCounterValue.newBuilder().setValue(((PNCounter) value).getValue()));
    } else if (value instanceof GSet) {
      state.setGset(GSetValue.newBuilder().addAllElements(sorted((GSet<String>) value)));
    } else if (value instanceof ORSet) {
      state.setOrset(ORSetValue.newBuilder().addAllElements(sorted((ORSet<String>) value)));
    } else if (value instanceof LWWRegister) {
      state.setLwwregister(LWWRegisterValue.newBuilder().setValue(((LWWRegister<String>) value).get()));
    } else if (value instanceof Flag) {
      state.setFlag(FlagValue.newBuilder().setValue(((Flag) value).isEnabled()));
    } else if (value instanceof ORMap) {
      ORMapValue.Builder map = ORMapValue.newBuilder();
      List<String> keys = sorted(((ORMap<String, io.cloudstate.javasupport.crdt.Crdt>) value).keySet());
      for (String key : keys) {
        io.cloudstate.javasupport.crdt.Crdt entry = ((Map<String, io.cloudstate.javasupport.crdt.Crdt>) value).get(key);
        map.addEntries(ORMapEntryValue.newBuilder().setKey(key).setValue(stateOf(entry)));
      }
      state.setOrmap(map);
    } else if (value instanceof Vote) {
      Vote vote = (Vote) value;
      state.setVote(VoteValue.newBuilder().setSelfVote(vote.getSelfVote()).setVotesFor(vote.getVotesFor()).setTotalVoters(vote.getVoters()));
    }
    return state.build();
  }

  private static List<String> sorted(Iterable<String> values) {
    List<String> list = new ArrayList<>();
    for (String v : values) list.add(v);
    list.sort(null);
    return list;
  }
}
