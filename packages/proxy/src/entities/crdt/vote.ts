import { create } from "@bufbuild/protobuf";
import { type CrdtDelta, CrdtDeltaSchema, type VoteDelta } from "@switchboard/protocol";
import { mergeCounts } from "./counters.js";
import type { Applied, Replica } from "./state.js";

/**
 * A vote per node, as the reference proxy's Vote (Akka's `Vote`): each node has a
 * counter it bumps whenever its vote flips, so an odd counter means "for" and the merge
 * is the per-node maximum. Only current cluster members count (see {@link voteView}).
 */
export interface VoteState {
  readonly kind: "vote";
  readonly votes: ReadonlyMap<string, bigint>;
}

/** What the user function sees of a Vote. */
export interface VoteView {
  readonly selfVote: boolean;
  readonly votesFor: number;
  readonly totalVoters: number;
}

/** The empty Vote: nobody voted for. */
export const EMPTY_VOTE: VoteState = Object.freeze({ kind: "vote", votes: new Map<string, bigint>() });

const isFor = (state: VoteState, node: string) => ((state.votes.get(node) ?? 0n) & 1n) === 1n;

/** Sets this replica's vote to `VoteDelta.self_vote`; the totals the user function sends are ignored. */
export function applyVote(state: VoteState, delta: VoteDelta, replica: Replica): Applied<VoteState> {
  if (isFor(state, replica.nodeId) === delta.selfVote) return { kind: "applied", state, delta: EMPTY_VOTE };
  const own = (state.votes.get(replica.nodeId) ?? 0n) + 1n;
  const votes = new Map(state.votes);
  votes.set(replica.nodeId, own);
  return { kind: "applied", state: { kind: "vote", votes }, delta: { kind: "vote", votes: new Map([[replica.nodeId, own]]) } };
}

/** Join of two Votes. */
export function mergeVote(a: VoteState, b: VoteState): VoteState {
  return { kind: "vote", votes: mergeCounts(a.votes, b.votes) };
}

/** The vote as this replica reports it: its own vote, and the votes of the current members. */
export function voteView(state: VoteState, replica: Replica): VoteView {
  const members = replica.members();
  return {
    selfVote: isFor(state, replica.nodeId),
    votesFor: members.filter((node) => isFor(state, node)).length,
    totalVoters: members.length,
  };
}

/** The Vote as a delta from empty, with the totals filled in by the proxy. */
export function voteInit(state: VoteState, replica: Replica): CrdtDelta {
  return create(CrdtDeltaSchema, { delta: { case: "vote", value: voteView(state, replica) } });
}
