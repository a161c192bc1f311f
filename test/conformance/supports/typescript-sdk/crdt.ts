/**
 * The CRDT TCK model services (`cloudstate.tck.model.crdt`), written with the SDK. The SDK's
 * own protocol tests drive it too, with one convention the TCK never uses: a `fail` action
 * whose message starts with `crash:` throws a plain Error (a crash, not a failure). The prefix
 * of the entity id before the first `-` selects the CRDT type (`GCounter-3`, `ORMap-12`), and so
 * does the key of an ORMap entry for its value. Set elements, register values and map keys are
 * strings, sent as `p.cloudstate.io/string`.
 *
 * Every CRDT here holds raw `Any`s (`codecs.any`), because ORMap values the proxy adds do too; the
 * model converts with `codecs.string`.
 */
import { create, equals } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { Crdt, ForwardReply } from "@switchboard/sdk";
import {
  CommandFailure,
  CrdtClock,
  CrdtWriteConsistency,
  codecs,
  crdtEntity,
  createFlag,
  createGCounter,
  createGSet,
  createLWWRegister,
  createORMap,
  createORSet,
  createPNCounter,
  createVote,
} from "@switchboard/sdk";
import { crdt as model } from "@switchboard/protocol/tck";

const text = (any: Any): string => codecs.string.decode(any);
const str = (value: string): Any => codecs.string.encode(value);

/** A new CRDT of the type named by the prefix of `id` (before the first `-`). */
export function createCrdtFor(id: string): Crdt {
  const type = id.split("-")[0];
  switch (type) {
    case "GCounter":
      return createGCounter();
    case "PNCounter":
      return createPNCounter();
    case "GSet":
      return createGSet();
    case "ORSet":
      return createORSet();
    case "LWWRegister":
      // As go-support: the register starts with the empty string, written by this function.
      return createLWWRegister(codecs.any, str(""));
    case "Flag":
      return createFlag();
    case "ORMap":
      return createORMap();
    case "Vote":
      return createVote();
    default:
      throw new CommandFailure(`unknown CRDT type "${type}" in id "${id}"`);
  }
}

/** The model's view of a CRDT: the `State` message the replies carry. */
export function stateOf(crdt: Crdt): model.State {
  switch (crdt.kind) {
    case "GCounter":
      return create(model.StateSchema, { value: { case: "gcounter", value: { value: crdt.value } } });
    case "PNCounter":
      return create(model.StateSchema, { value: { case: "pncounter", value: { value: crdt.value } } });
    case "GSet":
      return create(model.StateSchema, {
        value: {
          case: "gset",
          value: {
            elements: crdt
              .values()
              .map((e) => text(e as Any))
              .sort(),
          },
        },
      });
    case "ORSet":
      return create(model.StateSchema, {
        value: {
          case: "orset",
          value: {
            elements: crdt
              .values()
              .map((e) => text(e as Any))
              .sort(),
          },
        },
      });
    case "LWWRegister": {
      const value = crdt.value === undefined ? "" : text(crdt.value as Any);
      return create(model.StateSchema, { value: { case: "lwwregister", value: { value } } });
    }
    case "Flag":
      return create(model.StateSchema, { value: { case: "flag", value: { value: crdt.value } } });
    case "ORMap": {
      const entries = crdt
        .entries()
        .map(([key, value]) => ({ key: text(key as Any), value: stateOf(value) }))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      return create(model.StateSchema, { value: { case: "ormap", value: { entries } } });
    }
    case "Vote":
      return create(model.StateSchema, { value: { case: "vote", value: { selfVote: crdt.selfVote, votesFor: crdt.votesFor, totalVoters: crdt.voters } } });
  }
}

function mismatch(crdt: Crdt, update: string): CommandFailure {
  return new CommandFailure(`a ${update} update does not apply to a ${crdt.kind}`);
}

/** Applies one model `Update` to `crdt`. */
export function applyUpdate(crdt: Crdt, update: model.Update): void {
  const u = update.update;
  switch (u.case) {
    case "gcounter":
      if (crdt.kind !== "GCounter") throw mismatch(crdt, u.case);
      crdt.increment(u.value.increment);
      return;
    case "pncounter":
      if (crdt.kind !== "PNCounter") throw mismatch(crdt, u.case);
      crdt.increment(u.value.change);
      return;
    case "gset":
      if (crdt.kind !== "GSet") throw mismatch(crdt, u.case);
      crdt.add(str(u.value.add));
      return;
    case "orset": {
      if (crdt.kind !== "ORSet") throw mismatch(crdt, u.case);
      const action = u.value.action;
      if (action.case === "add") crdt.add(str(action.value));
      else if (action.case === "remove") crdt.remove(str(action.value));
      else if (action.case === "clear" && action.value) crdt.clear();
      return;
    }
    case "lwwregister": {
      if (crdt.kind !== "LWWRegister") throw mismatch(crdt, u.case);
      const clock = u.value.clock;
      const value = str(u.value.value);
      switch (clock?.clockType) {
        case undefined:
        case model.LWWRegisterClockType.DEFAULT:
          crdt.set(value);
          return;
        case model.LWWRegisterClockType.REVERSE:
          crdt.set(value, { clock: CrdtClock.REVERSE });
          return;
        case model.LWWRegisterClockType.CUSTOM:
          crdt.set(value, { clock: CrdtClock.CUSTOM, customClockValue: clock.customClockValue });
          return;
        case model.LWWRegisterClockType.CUSTOM_AUTO_INCREMENT:
          crdt.set(value, { clock: CrdtClock.CUSTOM_AUTO_INCREMENT, customClockValue: clock.customClockValue });
          return;
      }
      return;
    }
    case "flag":
      if (crdt.kind !== "Flag") throw mismatch(crdt, u.case);
      crdt.enable();
      return;
    case "ormap": {
      if (crdt.kind !== "ORMap") throw mismatch(crdt, u.case);
      const action = u.value.action;
      switch (action.case) {
        case "add":
          crdt.getOrCreate(str(action.value), () => createCrdtFor(action.value));
          return;
        case "update": {
          const { key, update: entryUpdate } = action.value;
          const value = crdt.getOrCreate(str(key), () => createCrdtFor(key));
          if (entryUpdate !== undefined) applyUpdate(value, entryUpdate);
          return;
        }
        case "remove":
          crdt.remove(str(action.value));
          return;
        case "clear":
          crdt.clear();
          return;
        case undefined:
          return;
      }
      return;
    }
    case "vote":
      if (crdt.kind !== "Vote") throw mismatch(crdt, u.case);
      crdt.vote(u.value.selfVote);
      return;
    case undefined:
      return;
  }
}

const WRITE_CONSISTENCY: Record<model.UpdateWriteConsistency, CrdtWriteConsistency> = {
  [model.UpdateWriteConsistency.LOCAL]: CrdtWriteConsistency.LOCAL,
  [model.UpdateWriteConsistency.MAJORITY]: CrdtWriteConsistency.MAJORITY,
  [model.UpdateWriteConsistency.ALL]: CrdtWriteConsistency.ALL,
};

/** `CrdtTckModel`: `Process` runs the request's actions; `ProcessStreamed` streams the state. */
export const crdtTckModel = crdtEntity({
  service: model.CrdtTckModel,
  crdt: createCrdtFor,
  handlers: {
    process(request, ctx) {
      // Read first, as go-support makes the CRDT before the command: a new LWWRegister's initial
      // write then goes with this reply, whatever the command does.
      const state = ctx.state;
      let forward: ForwardReply | undefined;
      for (const { action } of request.actions) {
        switch (action.case) {
          case "update":
            applyUpdate(state, action.value);
            ctx.writeConsistency = WRITE_CONSISTENCY[action.value.writeConsistency];
            break;
          case "delete":
            ctx.delete();
            break;
          case "forward":
            forward = ctx.forward(model.CrdtTwo.method.call, { id: action.value.id });
            break;
          case "effect":
            ctx.sideEffect(model.CrdtTwo.method.call, { id: action.value.id }, { synchronous: action.value.synchronous });
            break;
          case "fail":
            if (action.value.message.startsWith("crash:")) throw new Error(action.value.message.slice("crash:".length));
            throw new CommandFailure(action.value.message);
          case undefined:
            break;
        }
      }
      return forward ?? { state: stateOf(state) };
    },
    processStreamed(request, ctx) {
      const state = ctx.state;
      if (ctx.streamed) {
        ctx.onStateChange((current, stream) => {
          for (const effect of request.effects) {
            stream.sideEffect(model.CrdtTwo.method.call, { id: effect.id }, { synchronous: effect.synchronous });
          }
          const now = stateOf(current);
          if (request.endState !== undefined && equals(model.StateSchema, now, request.endState)) stream.endStream();
          return request.empty ? undefined : { state: now };
        });
        const cancelUpdate = request.cancelUpdate;
        if (cancelUpdate !== undefined) ctx.onCancel((current) => applyUpdate(current, cancelUpdate));
      }
      if (request.initialUpdate !== undefined) applyUpdate(state, request.initialUpdate);
      return request.empty ? undefined : { state: stateOf(state) };
    },
  },
});

/** `CrdtTwo`: the target of forwards and side effects; it only deletes, when asked. */
export const crdtTwo = crdtEntity({
  service: model.CrdtTwo,
  crdt: createCrdtFor,
  handlers: {
    call(request, ctx) {
      if (request.actions.some(({ action }) => action.case === "delete")) ctx.delete();
      return {};
    },
  },
});

/** `CrdtConfigured`: a Flag, passivated after 100 ms idle. */
export const crdtConfigured = crdtEntity({
  service: model.CrdtConfigured,
  crdt: "Flag",
  passivationTimeoutMs: 100,
  handlers: { call: () => ({}) },
});
