"""The event-sourced TCK model (cloudstate.tck.model, protocols/tck/cloudstate/tck/model/
eventsourced.proto) written against PyPI cloudstate 0.1.1, as far as that library goes.

  EventSourcedTckModel   persistence id "event-sourced-tck-model", a snapshot every 5 events; the
                         state is the concatenation of the emitted Persisted values.
  EventSourcedTwo        the target of forwards and side effects; Call answers an empty Response.
  EventSourcedConfigured persistence id "event-sourced-configured"; Call answers an empty Response.
                         0.1.1 cannot declare its 100 ms passivation strategy.

Snapshots: 0.1.1's own `snapshot_every` counts event sequence numbers from where the stream's
recovery ended and never advances that base after a command, so on a live stream it misses the
5th/10th event whenever earlier commands emitted events. Its snapshot and event handlers get no
sequence numbers either (at most two parameters); only the command context has one, the
recovery base. So this model counts the events applied since recovery itself, works out each
command's first sequence number from that base, and asks the library for a snapshot after every
command that emitted events (`snapshot_every=1`), answering one only when the command reached a
multiple of 5; the library sends no snapshot when the snapshot function returns None.

What 0.1.1 still cannot do is in known-failures.txt (failure descriptions are sent as the repr of
a Python list; no passivation strategy).

Run (after `node test/conformance/supports/python-support/setup.mjs`):
    HOST=127.0.0.1 PORT=8080 .tck/python-support/venv/bin/python test/conformance/supports/python-support/tck_model.py
"""

from dataclasses import dataclass
from typing import Optional

import cloudstate_stubs  # noqa: F401  (import paths of the generated modules)

from google.protobuf.any_pb2 import Any

from cloudstate.cloudstate import CloudState
from cloudstate.entity_pb2 import Forward, SideEffect
from cloudstate.event_sourced_context import EventSourcedCommandContext
from cloudstate.event_sourced_entity import EventSourcedEntity
from cloudstate.tck.model import eventsourced_pb2 as model

SNAPSHOT_EVERY = 5
TWO = "cloudstate.tck.model.EventSourcedTwo"
SERVICES = model.DESCRIPTOR.services_by_name


@dataclass
class ModelState:
    """The entity state, plus the bookkeeping of the snapshot cadence."""

    value: str = ""
    # Events applied on this stream (replayed and emitted).
    applied: int = 0
    # `applied` when the first command arrived, i.e. the number of replayed events.
    replayed: Optional[int] = None
    # Whether the current command's events reached a multiple of SNAPSHOT_EVERY.
    snapshot_due: bool = False


def packed(message) -> Any:
    result = Any()
    result.Pack(message)
    return result


tck_model = EventSourcedEntity(
    SERVICES["EventSourcedTckModel"],
    [model.DESCRIPTOR],
    lambda entity_id: ModelState(),
    persistence_id="event-sourced-tck-model",
    snapshot_every=1,
)


@tck_model.snapshot()
def take_snapshot(state: ModelState):
    if not state.snapshot_due:
        return None
    state.snapshot_due = False
    return model.Persisted(value=state.value)


@tck_model.snapshot_handler()
def restore_snapshot(state: ModelState, snapshot: model.Persisted):
    return ModelState(value=snapshot.value)


@tck_model.event_handler(model.Persisted)
def persisted(state: ModelState, event: model.Persisted):
    state.value += event.value
    state.applied += 1
    return state


@tck_model.command_handler("Process")
def process(state: ModelState, request: model.Request, ctx: EventSourcedCommandContext):
    # ctx.sequence is the sequence number recovery ended at (0.1.1 never advances it).
    if state.replayed is None:
        state.replayed = state.applied
    first = ctx.sequence + (state.applied - state.replayed)
    state.snapshot_due = False
    value = state.value
    emitted = 0
    for action in request.actions:
        kind = action.WhichOneof("action")
        if kind == "emit":
            ctx.emit(model.Persisted(value=action.emit.value))
            value += action.emit.value
            emitted += 1
        elif kind == "forward":
            ctx.forward = Forward(service_name=TWO, command_name="Call", payload=packed(model.Request(id=action.forward.id)))
        elif kind == "effect":
            ctx.effects.append(
                SideEffect(service_name=TWO, command_name="Call", payload=packed(model.Request(id=action.effect.id)), synchronous=action.effect.synchronous)
            )
        elif kind == "fail":
            # The library drops the command's events and side effects once it has failed.
            ctx.fail(action.fail.message)
            return model.Response()
    state.snapshot_due = first // SNAPSHOT_EVERY != (first + emitted) // SNAPSHOT_EVERY
    if ctx.forward is not None:
        # 0.1.1 rejects a reply together with a forward.
        return None
    return model.Response(message=value)


two = EventSourcedEntity(SERVICES["EventSourcedTwo"], [model.DESCRIPTOR], lambda entity_id: ModelState(), persistence_id="event-sourced-tck-model-two")


@two.command_handler("Call")
def two_call(request: model.Request):
    return model.Response()


configured = EventSourcedEntity(SERVICES["EventSourcedConfigured"], [model.DESCRIPTOR], lambda entity_id: ModelState(), persistence_id="event-sourced-configured")


@configured.command_handler("Call")
def configured_call(request: model.Request):
    return model.Response()


if __name__ == "__main__":
    CloudState().register_event_sourced_entity(tck_model).register_event_sourced_entity(two).register_event_sourced_entity(configured).start()
