package switchboard.conformance.kotlin

import cloudstate.tck.model.crdt.Crdt.FlagValue
import cloudstate.tck.model.crdt.Crdt.GCounterValue
import cloudstate.tck.model.crdt.Crdt.GSetValue
import cloudstate.tck.model.crdt.Crdt.LWWRegisterClockType
import cloudstate.tck.model.crdt.Crdt.LWWRegisterValue
import cloudstate.tck.model.crdt.Crdt.ORMapEntryValue
import cloudstate.tck.model.crdt.Crdt.ORMapUpdate
import cloudstate.tck.model.crdt.Crdt.ORMapValue
import cloudstate.tck.model.crdt.Crdt.ORSetUpdate
import cloudstate.tck.model.crdt.Crdt.ORSetValue
import cloudstate.tck.model.crdt.Crdt.PNCounterValue
import cloudstate.tck.model.crdt.Crdt.Request
import cloudstate.tck.model.crdt.Crdt.RequestAction
import cloudstate.tck.model.crdt.Crdt.Response
import cloudstate.tck.model.crdt.Crdt.State
import cloudstate.tck.model.crdt.Crdt.StreamedRequest
import cloudstate.tck.model.crdt.Crdt.Update
import cloudstate.tck.model.crdt.Crdt.VoteValue
import io.cloudstate.javasupport.ServiceCallRef
import io.cloudstate.javasupport.crdt.CommandContext
import io.cloudstate.javasupport.crdt.CommandHandler
import io.cloudstate.javasupport.crdt.CrdtContext
import io.cloudstate.javasupport.crdt.CrdtCreationContext
import io.cloudstate.javasupport.crdt.CrdtEntity
import io.cloudstate.javasupport.crdt.CrdtFactory
import io.cloudstate.javasupport.crdt.Flag
import io.cloudstate.javasupport.crdt.GCounter
import io.cloudstate.javasupport.crdt.GSet
import io.cloudstate.javasupport.crdt.LWWRegister
import io.cloudstate.javasupport.crdt.ORMap
import io.cloudstate.javasupport.crdt.ORSet
import io.cloudstate.javasupport.crdt.PNCounter
import io.cloudstate.javasupport.crdt.StreamedCommandContext
import io.cloudstate.javasupport.crdt.Vote
import java.util.Optional
import io.cloudstate.javasupport.crdt.Crdt as JCrdt

private const val CRDT_TWO = "cloudstate.tck.model.crdt.CrdtTwo"

/** The CRDT type a name stands for: the text before its first `-`. */
private fun typeOf(name: String): String = name.substringBefore('-')

private fun existing(type: String, context: CrdtContext): JCrdt? =
    when (type) {
        "GCounter" -> context.state(GCounter::class.java).orElse(null)
        "PNCounter" -> context.state(PNCounter::class.java).orElse(null)
        "GSet" -> context.state(GSet::class.java).orElse(null)
        "ORSet" -> context.state(ORSet::class.java).orElse(null)
        "LWWRegister" -> context.state(LWWRegister::class.java).orElse(null)
        "Flag" -> context.state(Flag::class.java).orElse(null)
        "ORMap" -> context.state(ORMap::class.java).orElse(null)
        "Vote" -> context.state(Vote::class.java).orElse(null)
        else -> throw IllegalArgumentException("no CRDT type named $type")
    }

private fun newCrdt(type: String, factory: CrdtFactory): JCrdt =
    when (type) {
        "GCounter" -> factory.newGCounter()
        "PNCounter" -> factory.newPNCounter()
        "GSet" -> factory.newGSet<String>()
        "ORSet" -> factory.newORSet<String>()
        "LWWRegister" -> factory.newLWWRegister("")
        "Flag" -> factory.newFlag()
        "ORMap" -> factory.newORMap<String, JCrdt>()
        "Vote" -> factory.newVote()
        else -> throw IllegalArgumentException("no CRDT type named $type")
    }

/**
 * CrdtTckModel (protocols/tck/cloudstate/tck/model/crdt.proto) in Kotlin on the java-support
 * 0.5.2 CRDT API: the entity id's prefix (`GCounter-3`) names the CRDT type, as does each ORMap
 * key's for its value; replies carry the value as a model State (sets and keys sorted). 0.5.2 has
 * no write consistency in its API.
 */
@CrdtEntity
class CrdtModel(context: CrdtCreationContext) {
    private val crdt: JCrdt = existing(typeOf(context.entityId()), context) ?: newCrdt(typeOf(context.entityId()), context)
    private val twoCall: ServiceCallRef<Request> = context.serviceCallFactory().lookup(CRDT_TWO, "Call", Request::class.java)

    @CommandHandler
    fun process(request: Request, context: CommandContext): Optional<Response> {
        var forwarded = false
        for (action in request.actionsList) {
            when (action.actionCase) {
                RequestAction.ActionCase.UPDATE -> apply(crdt, action.update)
                RequestAction.ActionCase.DELETE -> context.delete()
                RequestAction.ActionCase.FORWARD -> {
                    forwarded = true
                    context.forward(twoCall.createCall(request(action.forward.id)))
                }
                RequestAction.ActionCase.EFFECT -> context.effect(twoCall.createCall(request(action.effect.id)), action.effect.synchronous)
                RequestAction.ActionCase.FAIL -> throw context.fail(action.fail.message)
                else -> {}
            }
        }
        return if (forwarded) Optional.empty() else Optional.of(response())
    }

    @CommandHandler
    fun processStreamed(request: StreamedRequest, context: StreamedCommandContext<Response>): Optional<Response> {
        if (context.isStreamed) {
            context.onChange { subscription ->
                for (effect in request.effectsList) subscription.effect(twoCall.createCall(request(effect.id)), effect.synchronous)
                if (request.hasEndState() && stateOf(crdt) == request.endState) subscription.endStream()
                if (request.empty) Optional.empty() else Optional.of(response())
            }
            if (request.hasCancelUpdate()) context.onCancel { apply(crdt, request.cancelUpdate) }
        }
        if (request.hasInitialUpdate()) apply(crdt, request.initialUpdate)
        return if (request.empty) Optional.empty() else Optional.of(response())
    }

    private fun response(): Response = Response.newBuilder().setState(stateOf(crdt)).build()
}

/** CrdtTwo: the target of the CRDT model's forwards and side effects; answers an empty Response. */
@CrdtEntity
class CrdtTwo {
    @CommandHandler
    fun call(request: Request): Response = Response.getDefaultInstance()
}

/** CrdtConfigured: declared for the passivation case, which 0.5.2 cannot configure; answers an empty Response. */
@CrdtEntity
class CrdtConfigured {
    @CommandHandler
    fun call(request: Request): Response = Response.getDefaultInstance()
}

private fun request(id: String): Request = Request.newBuilder().setId(id).build()

@Suppress("UNCHECKED_CAST")
private fun apply(target: JCrdt, update: Update) {
    when (update.updateCase) {
        Update.UpdateCase.GCOUNTER -> (target as GCounter).increment(update.gcounter.increment)
        Update.UpdateCase.PNCOUNTER -> (target as PNCounter).increment(update.pncounter.change)
        Update.UpdateCase.GSET -> (target as GSet<String>).add(update.gset.add)
        Update.UpdateCase.ORSET -> {
            val set = target as ORSet<String>
            when (update.orset.actionCase) {
                ORSetUpdate.ActionCase.ADD -> set.add(update.orset.add)
                ORSetUpdate.ActionCase.REMOVE -> set.remove(update.orset.remove)
                ORSetUpdate.ActionCase.CLEAR -> if (update.orset.clear) set.clear()
                else -> {}
            }
        }
        Update.UpdateCase.LWWREGISTER -> {
            val register = target as LWWRegister<String>
            val value = update.lwwregister.value
            val clock = update.lwwregister.clock
            when (clock.clockType) {
                LWWRegisterClockType.REVERSE -> register.set(value, LWWRegister.Clock.REVERSE, 0)
                LWWRegisterClockType.CUSTOM -> register.set(value, LWWRegister.Clock.CUSTOM, clock.customClockValue)
                LWWRegisterClockType.CUSTOM_AUTO_INCREMENT -> register.set(value, LWWRegister.Clock.CUSTOM_AUTO_INCREMENT, clock.customClockValue)
                else -> register.set(value)
            }
        }
        Update.UpdateCase.FLAG -> (target as Flag).enable()
        Update.UpdateCase.ORMAP -> applyORMap(target as ORMap<String, JCrdt>, update.ormap)
        Update.UpdateCase.VOTE -> (target as Vote).vote(update.vote.selfVote)
        else -> {}
    }
}

private fun applyORMap(map: ORMap<String, JCrdt>, update: ORMapUpdate) {
    when (update.actionCase) {
        ORMapUpdate.ActionCase.ADD -> map.getOrCreate(update.add) { factory -> newCrdt(typeOf(update.add), factory) }
        ORMapUpdate.ActionCase.UPDATE -> {
            val key = update.update.key
            apply(map.getOrCreate(key) { factory -> newCrdt(typeOf(key), factory) }, update.update.update)
        }
        ORMapUpdate.ActionCase.REMOVE -> map.remove(update.remove)
        ORMapUpdate.ActionCase.CLEAR -> map.clear()
        else -> {}
    }
}

/** The model State of a CRDT value. */
@Suppress("UNCHECKED_CAST")
private fun stateOf(value: JCrdt): State {
    val state = State.newBuilder()
    when (value) {
        is GCounter -> state.setGcounter(GCounterValue.newBuilder().setValue(value.value))
        is PNCounter -> state.setPncounter(PNCounterValue.newBuilder().setValue(value.value))
        is GSet<*> -> state.setGset(GSetValue.newBuilder().addAllElements((value as GSet<String>).sorted()))
        is ORSet<*> -> state.setOrset(ORSetValue.newBuilder().addAllElements((value as ORSet<String>).sorted()))
        is LWWRegister<*> -> state.setLwwregister(LWWRegisterValue.newBuilder().setValue((value as LWWRegister<String>).get()))
        is Flag -> state.setFlag(FlagValue.newBuilder().setValue(value.isEnabled))
        is ORMap<*, *> -> {
            val map = value as ORMap<String, JCrdt>
            val entries = map.keys.sorted().map { key -> ORMapEntryValue.newBuilder().setKey(key).setValue(stateOf(map.getValue(key))).build() }
            state.setOrmap(ORMapValue.newBuilder().addAllEntries(entries))
        }
        is Vote -> state.setVote(VoteValue.newBuilder().setSelfVote(value.selfVote).setVotesFor(value.votesFor).setTotalVoters(value.voters))
    }
    return state.build()
}
