/**
 * Vote: one boolean vote per node, counted across the cluster.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { CrdtDelta } from "@switchboard/protocol";
import { CrdtDeltaSchema } from "@switchboard/protocol";
import type { CrdtImpl } from "./crdt.js";
import { brand, deltaMismatch } from "./crdt.js";

/**
 * A vote (Cloudstate `Vote`): each proxy node holds one boolean vote for this entity; the user
 * function sets its node's vote and reads the totals, which the proxy keeps up to date
 * (`voters` is the number of nodes, 1 on a single node).
 *
 * A common use is presence: a streamed call votes `true` while the client is connected and
 * `false` when it cancels, so `atLeastOne` says whether anyone is connected through any node.
 *
 * @example
 * ```ts
 * handlers: {
 *   connect(_req, ctx) {
 *     ctx.state.vote(true);
 *     ctx.onCancel((state) => state.vote(false));
 *     return {};
 *   },
 * }
 * ```
 */
export interface Vote {
  readonly kind: "Vote";
  /** This node's vote. */
  readonly selfVote: boolean;
  /** How many nodes vote `true`, this one included. */
  readonly votesFor: number;
  /** How many nodes vote. */
  readonly voters: number;
  /** Whether at least one node votes `true`. */
  readonly atLeastOne: boolean;
  /** Whether more than half of the nodes vote `true`. */
  readonly majority: boolean;
  /** Whether every node votes `true`. */
  readonly all: boolean;
  /**
   * Sets this node's vote (no change if it already is `value`).
   *
   * @example
   * ```ts
   * ctx.state.vote(true);
   * ```
   */
  vote(value: boolean): void;
}

class VoteImpl implements Vote, CrdtImpl {
  readonly kind = "Vote";
  #selfVote = false;
  #votesFor = 0;
  #voters = 1;
  #changed = false;

  get selfVote(): boolean {
    return this.#selfVote;
  }

  get votesFor(): number {
    return this.#votesFor;
  }

  get voters(): number {
    return this.#voters;
  }

  get atLeastOne(): boolean {
    return this.#votesFor > 0;
  }

  get majority(): boolean {
    return this.#votesFor * 2 > this.#voters;
  }

  get all(): boolean {
    return this.#votesFor === this.#voters;
  }

  vote(value: boolean): void {
    if (typeof value !== "boolean") throw new TypeError(`Vote.vote() takes a boolean, got ${typeof value}`);
    if (value === this.#selfVote) return;
    this.#selfVote = value;
    this.#votesFor += value ? 1 : -1;
    // Back and forth within one command is still a change: the proxy only learns the last vote.
    this.#changed = true;
  }

  delta(): CrdtDelta | undefined {
    return this.#changed ? this.deltaAsNew() : undefined;
  }

  deltaAsNew(): CrdtDelta {
    // The user function sends only its own vote; the proxy ignores the totals (docs/protocol.md#crdt-entities).
    return create(CrdtDeltaSchema, { delta: { case: "vote", value: { selfVote: this.#selfVote } } });
  }

  resetDelta(): void {
    this.#changed = false;
  }

  applyDelta(delta: CrdtDelta): void {
    if (delta.delta.case !== "vote") throw deltaMismatch(this.kind, delta);
    const { selfVote, votesFor, totalVoters } = delta.delta.value;
    this.#selfVote = selfVote;
    this.#votesFor = votesFor;
    this.#voters = totalVoters;
  }

  snapshot(): () => void {
    const selfVote = this.#selfVote;
    const votesFor = this.#votesFor;
    const voters = this.#voters;
    const changed = this.#changed;
    return () => {
      this.#selfVote = selfVote;
      this.#votesFor = votesFor;
      this.#voters = voters;
      this.#changed = changed;
    };
  }
}

/**
 * A new Vote: this node votes `false`, and it is the only voter until the proxy says otherwise.
 *
 * @example
 * ```ts
 * crdtEntity({ service: Presence, crdt: () => createVote(), handlers });
 * ```
 */
export function createVote(): Vote {
  return brand(new VoteImpl());
}
