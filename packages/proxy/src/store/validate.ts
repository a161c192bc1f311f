import { Code, SwitchboardError } from "../errors/index.js";
import type { JournalAppend, TopicRetention } from "./types.js";

/**
 * Checks the shape of a journal append that every adapter rejects the same way:
 * at least one event and a positive integer first seq. Returns the error
 * (`Code.InvalidArgument`) instead of throwing, so adapters can reject their promise.
 */
export function validateAppend(append: JournalAppend): SwitchboardError | undefined {
  if (append.events.length === 0) {
    return new SwitchboardError(`journal "${append.journalId}": an append needs at least one event`, Code.InvalidArgument);
  }
  if (!Number.isSafeInteger(append.firstSeq) || append.firstSeq < 1) {
    return new SwitchboardError(`journal "${append.journalId}": first seq must be a positive integer, got ${append.firstSeq}`, Code.InvalidArgument);
  }
  return undefined;
}

/** Checks that an event offset (or a consumer position) is a non-negative safe integer. */
export function validateOffset(offset: number, what: string): SwitchboardError | undefined {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    return new SwitchboardError(`${what} must be a non-negative integer, got ${offset}`, Code.InvalidArgument);
  }
  return undefined;
}

/** Checks the page size of an `eventsByTag` call: a non-negative integer (0 reads nothing). */
export function validateLimit(limit: number): SwitchboardError | undefined {
  if (!Number.isSafeInteger(limit) || limit < 0) {
    return new SwitchboardError(`limit must be a non-negative integer, got ${limit}`, Code.InvalidArgument);
  }
  return undefined;
}

/** Checks a topic publish every adapter rejects the same way: a topic name and at least one message. */
export function validatePublish(topic: string, count: number): SwitchboardError | undefined {
  if (typeof topic !== "string" || topic.length === 0) return new SwitchboardError("a topic needs a non-empty name", Code.InvalidArgument);
  if (count === 0) return new SwitchboardError(`topic "${topic}": a publish needs at least one message`, Code.InvalidArgument);
  return undefined;
}

/** Checks a consumer group name: not empty. */
export function validateGroup(topic: string, group: string): SwitchboardError | undefined {
  if (typeof group !== "string" || group.length === 0)
    return new SwitchboardError(`topic "${topic}": a consumer group needs a non-empty name`, Code.InvalidArgument);
  return undefined;
}

/** Checks retention limits: each absent, or a non-negative safe integer. */
export function validateRetention(limits: TopicRetention): SwitchboardError | undefined {
  return (
    (limits.publishedBefore === undefined ? undefined : validateOffset(limits.publishedBefore, "retention publishedBefore")) ??
    (limits.maxBytes === undefined ? undefined : validateOffset(limits.maxBytes, "retention maxBytes"))
  );
}

/** Checks a time to find an offset at: a non-negative safe integer of ms since the epoch. */
export function validateTime(topic: string, time: number): SwitchboardError | undefined {
  return validateOffset(time, `topic "${topic}": a time in ms since the epoch`);
}
