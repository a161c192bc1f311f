/**
 * What the interceptor records: one object per call it forwarded, with a probe per
 * direction, and the expectations tests make on them. This mirrors the connection classes
 * of the upstream testkit (`Intercept*Service.Connection`): messages the proxy sent to the
 * user function are "incoming", messages the user function sent back are "outgoing".
 */
import { clone, type DescMessage, equals, type MessageShape } from "@bufbuild/protobuf";
import {
  type ActionCommand,
  ActionCommandSchema,
  type ActionResponse,
  ActionResponseSchema,
  type CrdtStreamIn,
  CrdtStreamInSchema,
  type CrdtStreamOut,
  CrdtStreamOutSchema,
  type EntitySpec,
  type EventSourcedStreamIn,
  EventSourcedStreamInSchema,
  type EventSourcedStreamOut,
  EventSourcedStreamOutSchema,
  type ProxyInfo,
  type ValueEntityStreamIn,
  ValueEntityStreamInSchema,
  type ValueEntityStreamOut,
  ValueEntityStreamOutSchema,
} from "@switchboard/protocol";
import { TckAssertionError } from "./assertion-error.js";
import { describeMessage } from "./describe.js";
import { createProbe, DEFAULT_EXPECT_TIMEOUT_MS, type Probe } from "./probe.js";

/** One event on one direction of a recorded call. */
export type StreamEvent<M> =
  | { readonly kind: "message"; readonly message: M }
  | { readonly kind: "complete" }
  | { readonly kind: "error"; readonly code: number; readonly details: string }
  | { readonly kind: "undecodable"; readonly error: string };

/** Renders a {@link StreamEvent} for failure messages. */
export function describeEvent<D extends DescMessage>(schema: D, event: StreamEvent<MessageShape<D>>): string {
  switch (event.kind) {
    case "message":
      return describeMessage(schema, event.message);
    case "complete":
      return "stream completed";
    case "error":
      return `stream failed (code ${event.code}: ${event.details})`;
    case "undecodable":
      return `undecodable message (${event.error})`;
  }
}

/** The kinds of call the interceptor records, in the order tests expect them. */
export type ConnectionKind =
  | "discovery"
  | "action-unary"
  | "action-streamed-in"
  | "action-streamed-out"
  | "action-streamed"
  | "event-sourced"
  | "value-entity"
  | "crdt";

/** Human names of the connection kinds, for failure messages. */
export const CONNECTION_KIND_NAMES: Record<ConnectionKind, string> = {
  discovery: "an entity discovery (discover call)",
  "action-unary": "an action handleUnary call",
  "action-streamed-in": "an action handleStreamedIn call",
  "action-streamed-out": "an action handleStreamedOut call",
  "action-streamed": "an action handleStreamed call",
  "event-sourced": "an event sourced entity stream",
  "value-entity": "a value entity stream",
  crdt: "a CRDT entity stream",
};

/** Waits for the next event of a direction and checks it is a message. */
async function nextMessage<D extends DescMessage>(
  probe: Probe<StreamEvent<MessageShape<D>>>,
  schema: D,
  what: string,
  timeoutMs: number,
): Promise<MessageShape<D>> {
  const event = await probe.next(what, timeoutMs);
  if (event.kind !== "message") throw new TckAssertionError(`expected ${what}, got ${describeEvent(schema, event)}`);
  return event.message;
}

/** Waits for the next event of a direction and checks it equals `expected` exactly. */
async function expectExact<D extends DescMessage>(
  probe: Probe<StreamEvent<MessageShape<D>>>,
  schema: D,
  expected: MessageShape<D>,
  what: string,
  timeoutMs: number,
  normalize?: (m: MessageShape<D>) => MessageShape<D>,
): Promise<void> {
  const received = await nextMessage(probe, schema, `${what} ${describeMessage(schema, expected)}`, timeoutMs);
  const actual = normalize ? normalize(received) : received;
  if (!equals(schema, actual, expected)) {
    throw new TckAssertionError(`unexpected ${what}:\n  expected ${describeMessage(schema, expected)}\n  received ${describeMessage(schema, actual)}`);
  }
}

/** Waits for the completion event of a direction. */
async function expectComplete<D extends DescMessage>(probe: Probe<StreamEvent<MessageShape<D>>>, schema: D, what: string, timeoutMs: number): Promise<void> {
  const event = await probe.next(`${what} to complete`, timeoutMs);
  if (event.kind !== "complete") throw new TckAssertionError(`expected ${what} to complete, got ${describeEvent(schema, event)}`);
}

/** The recorded `discover` exchange: the proxy's `ProxyInfo` and the user function's answer. */
export class DiscoveryConnection {
  readonly kind = "discovery" as const;
  /** The user function's answer to this discover call: the spec, or the call's error. */
  readonly out: Probe<{ readonly spec: EntitySpec } | { readonly error: string }> = createProbe();
  constructor(
    /** What the proxy sent. */
    readonly proxyInfo: ProxyInfo,
  ) {}

  /** Waits for the user function's `EntitySpec` (up to `timeoutMs`). */
  async expectEntitySpec(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<EntitySpec> {
    const answer = await this.out.next("the user function's EntitySpec", timeoutMs);
    if ("error" in answer) throw new TckAssertionError(`the user function failed the discover call: ${answer.error}`);
    return answer.spec;
  }

  describe(): string {
    return `a discover call (proxy ${this.proxyInfo.proxyName} ${this.proxyInfo.proxyVersion})`;
  }
}

/** Schemas of one entity protocol's stream messages. */
interface EntityStreamSchemas<I extends DescMessage, O extends DescMessage> {
  readonly in: I;
  readonly out: O;
}

/**
 * One recorded entity stream (event sourced, value entity or CRDT): the messages the
 * proxy sent in, and those the user function sent out, each ending with completion or an
 * error.
 */
export class EntityConnection<K extends "event-sourced" | "value-entity" | "crdt", I extends DescMessage, O extends DescMessage> {
  /** Proxy → user function. */
  readonly in: Probe<StreamEvent<MessageShape<I>>> = createProbe();
  /** User function → proxy. */
  readonly out: Probe<StreamEvent<MessageShape<O>>> = createProbe();
  /** The first message the proxy sent, kept to describe the stream. */
  first: MessageShape<I> | undefined;

  constructor(
    readonly kind: K,
    private readonly schemas: EntityStreamSchemas<I, O>,
  ) {}

  /** Expects the next message from the proxy to equal `expected` exactly. */
  async expectIncoming(expected: MessageShape<I>, timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<this> {
    await expectExact(this.in, this.schemas.in, expected, "message from the proxy", timeoutMs);
    return this;
  }

  /** Takes the next message from the proxy, whatever it is. */
  expectIncomingMessage(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<MessageShape<I>> {
    return nextMessage(this.in, this.schemas.in, "a message from the proxy", timeoutMs);
  }

  /** Expects the next message from the user function to equal `expected` exactly. */
  async expectOutgoing(expected: MessageShape<O>, timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<this> {
    await expectExact(this.out, this.schemas.out, expected, "message from the user function", timeoutMs);
    return this;
  }

  /** Takes the next message from the user function, whatever it is. */
  expectOutgoingMessage(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<MessageShape<O>> {
    return nextMessage(this.out, this.schemas.out, "a message from the user function", timeoutMs);
  }

  /** Expects nothing more in either direction for `windowMs`. */
  async expectNoInteraction(windowMs = 0): Promise<this> {
    await this.in.expectNone("message from the proxy", windowMs, (e) => describeEvent(this.schemas.in, e));
    await this.out.expectNone("message from the user function", windowMs, (e) => describeEvent(this.schemas.out, e));
    return this;
  }

  /**
   * Expects the stream to be closed: the proxy half-closes its side (not a cancel), and the
   * user function completes its side, each within `timeoutMs`.
   */
  async expectClosed(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<void> {
    await expectComplete(this.in, this.schemas.in, "the proxy's side of the stream", timeoutMs);
    await expectComplete(this.out, this.schemas.out, "the user function's side of the stream", timeoutMs);
  }

  describe(): string {
    const first = this.first as { message?: { case?: string; value?: { serviceName?: string; entityId?: string } } } | undefined;
    const init = first?.message?.case === "init" ? first.message.value : undefined;
    return `${CONNECTION_KIND_NAMES[this.kind]}${init ? ` (${init.serviceName}, entity ${init.entityId})` : ""}`;
  }
}

/** A recorded event sourced stream. */
export type EventSourcedConnection = EntityConnection<"event-sourced", typeof EventSourcedStreamInSchema, typeof EventSourcedStreamOutSchema>;
/** A recorded value entity stream. */
export type ValueEntityConnection = EntityConnection<"value-entity", typeof ValueEntityStreamInSchema, typeof ValueEntityStreamOutSchema>;
/** A recorded CRDT stream. */
export type CrdtConnection = EntityConnection<"crdt", typeof CrdtStreamInSchema, typeof CrdtStreamOutSchema>;

/** Creates the recorder of an event sourced stream. */
export function eventSourcedConnection(): EventSourcedConnection {
  return new EntityConnection("event-sourced", { in: EventSourcedStreamInSchema, out: EventSourcedStreamOutSchema });
}
/** Creates the recorder of a value entity stream. */
export function valueEntityConnection(): ValueEntityConnection {
  return new EntityConnection("value-entity", { in: ValueEntityStreamInSchema, out: ValueEntityStreamOutSchema });
}
/** Creates the recorder of a CRDT stream. */
export function crdtConnection(): CrdtConnection {
  return new EntityConnection("crdt", { in: CrdtStreamInSchema, out: CrdtStreamOutSchema });
}

/** Re-exported message types of the entity streams, for builders and tests. */
export type { CrdtStreamIn, CrdtStreamOut, EventSourcedStreamIn, EventSourcedStreamOut, ValueEntityStreamIn, ValueEntityStreamOut };

/** An `ActionCommand` without its metadata: actions are compared ignoring metadata, as upstream. */
export function withoutCommandMetadata(command: ActionCommand): ActionCommand {
  const copy = clone(ActionCommandSchema, command);
  copy.metadata = undefined;
  return copy;
}

/** An `ActionResponse` without the metadata of its reply, forward and side effects. */
export function withoutResponseMetadata(response: ActionResponse): ActionResponse {
  const copy = clone(ActionResponseSchema, response);
  if (copy.response.case === "reply" || copy.response.case === "forward") copy.response.value.metadata = undefined;
  for (const effect of copy.sideEffects) effect.metadata = undefined;
  return copy;
}

function describeCommand(command: ActionCommand | undefined): string {
  return command ? ` (${command.serviceName}/${command.name})` : "";
}

/** Checks a recorded command against `expected`, ignoring metadata. */
function checkCommand(received: ActionCommand, expected: ActionCommand, what: string): void {
  const actual = withoutCommandMetadata(received);
  if (!equals(ActionCommandSchema, actual, expected)) {
    throw new TckAssertionError(
      `unexpected ${what}:\n  expected ${describeMessage(ActionCommandSchema, expected)}\n  received ${describeMessage(ActionCommandSchema, actual)}`,
    );
  }
}

/** A recorded `handleUnary` call. */
export class ActionUnaryConnection {
  readonly kind = "action-unary" as const;
  /** The user function's answer: the response, or the call's error. */
  readonly out: Probe<StreamEvent<ActionResponse>> = createProbe();
  constructor(
    /** The command the proxy sent. */
    readonly command: ActionCommand,
  ) {}

  /** Checks the command the proxy sent (ignoring metadata). */
  expectIncoming(expected: ActionCommand): this {
    checkCommand(this.command, expected, "unary action command");
    return this;
  }

  /** Waits for the user function's response. */
  expectResponse(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<ActionResponse> {
    return nextMessage(this.out, ActionResponseSchema, "the unary action response", timeoutMs);
  }

  /** Expects the user function's response to equal `expected` (ignoring metadata). */
  async expectOutgoing(expected: ActionResponse, timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<this> {
    await expectExact(this.out, ActionResponseSchema, expected, "unary action response", timeoutMs, withoutResponseMetadata);
    return this;
  }

  describe(): string {
    return `${CONNECTION_KIND_NAMES[this.kind]}${describeCommand(this.command)}`;
  }
}

/** A recorded action call with a request stream and/or a response stream. */
class ActionStreamConnection<K extends "action-streamed-in" | "action-streamed-out" | "action-streamed"> {
  /** Proxy → user function commands. */
  readonly in: Probe<StreamEvent<ActionCommand>> = createProbe();
  /** User function → proxy responses. */
  readonly out: Probe<StreamEvent<ActionResponse>> = createProbe();
  /** The first command, kept to describe the call. */
  first: ActionCommand | undefined;

  constructor(readonly kind: K) {}

  /** Takes the next command the proxy sent. */
  expectCommand(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<ActionCommand> {
    return nextMessage(this.in, ActionCommandSchema, "an action command from the proxy", timeoutMs);
  }

  /** Expects the next command from the proxy to equal `expected` (ignoring metadata). */
  async expectIncoming(expected: ActionCommand, timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<this> {
    await expectExact(this.in, ActionCommandSchema, expected, "action command from the proxy", timeoutMs, withoutCommandMetadata);
    return this;
  }

  /** Takes the next response the user function sent. */
  expectResponse(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<ActionResponse> {
    return nextMessage(this.out, ActionResponseSchema, "an action response from the user function", timeoutMs);
  }

  /** Expects the next response from the user function to equal `expected` (ignoring metadata). */
  async expectOutgoing(expected: ActionResponse, timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<this> {
    await expectExact(this.out, ActionResponseSchema, expected, "action response from the user function", timeoutMs, withoutResponseMetadata);
    return this;
  }

  /** Expects the proxy to half-close its command stream. */
  async expectInComplete(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<this> {
    await expectComplete(this.in, ActionCommandSchema, "the proxy's command stream", timeoutMs);
    return this;
  }

  /** Expects the user function to complete its response stream. */
  async expectOutComplete(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<this> {
    await expectComplete(this.out, ActionResponseSchema, "the user function's response stream", timeoutMs);
    return this;
  }

  /** Expects both directions to complete. */
  async expectComplete(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<this> {
    await this.expectInComplete(timeoutMs);
    return this.expectOutComplete(timeoutMs);
  }

  describe(): string {
    return `${CONNECTION_KIND_NAMES[this.kind]}${describeCommand(this.first)}`;
  }
}

/** A recorded `handleStreamedIn` call. */
export class ActionStreamedInConnection extends ActionStreamConnection<"action-streamed-in"> {
  constructor() {
    super("action-streamed-in");
  }
}

/** A recorded `handleStreamed` call. */
export class ActionStreamedConnection extends ActionStreamConnection<"action-streamed"> {
  constructor() {
    super("action-streamed");
  }
}

/**
 * A recorded `handleStreamedOut` call. Its single command is recorded on `in` followed by
 * completion, so it is checked with `expectIncoming` like the other streams.
 */
export class ActionStreamedOutConnection extends ActionStreamConnection<"action-streamed-out"> {
  constructor(
    /** The single command the proxy sent. */
    readonly command: ActionCommand,
  ) {
    super("action-streamed-out");
    this.first = command;
    this.in.push({ kind: "message", message: command });
    this.in.push({ kind: "complete" });
  }
}

/** Any recorded call, as queued on the interceptor's connection probe. */
export type InterceptedConnection =
  | DiscoveryConnection
  | ActionUnaryConnection
  | ActionStreamedInConnection
  | ActionStreamedOutConnection
  | ActionStreamedConnection
  | EventSourcedConnection
  | ValueEntityConnection
  | CrdtConnection;

/** Maps a connection kind to its recorder type. */
export interface ConnectionByKind {
  discovery: DiscoveryConnection;
  "action-unary": ActionUnaryConnection;
  "action-streamed-in": ActionStreamedInConnection;
  "action-streamed-out": ActionStreamedOutConnection;
  "action-streamed": ActionStreamedConnection;
  "event-sourced": EventSourcedConnection;
  "value-entity": ValueEntityConnection;
  crdt: CrdtConnection;
}
