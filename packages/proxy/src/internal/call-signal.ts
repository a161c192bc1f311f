/** A listener of a call's cancellation: a function, or an object with `handleEvent`. */
export type AbortListener = (() => void) | { handleEvent(): void };

/**
 * What the call path reads of a cancellation signal. A Node `AbortSignal` is one; so is
 * {@link CallAbort}, which the front door makes per call because an `AbortController` and its
 * `EventTarget` cost a noticeable share of a short call's CPU.
 */
export interface CallSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: "abort", listener: AbortListener, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: AbortListener): void;
}

/**
 * A call's cancellation, controller and signal in one object: listeners in a plain array,
 * run once on {@link abort} (every listener is a once-listener), and no event objects. Most
 * calls have one or two listeners and are never aborted.
 */
export class CallAbort implements CallSignal {
  aborted = false;
  reason: unknown = undefined;
  private listeners: AbortListener[] | undefined;

  addEventListener(_type: "abort", listener: AbortListener): void {
    if (this.aborted) return;
    if (this.listeners === undefined) this.listeners = [listener];
    else if (!this.listeners.includes(listener)) this.listeners.push(listener);
  }

  removeEventListener(_type: "abort", listener: AbortListener): void {
    const listeners = this.listeners;
    if (listeners === undefined) return;
    const index = listeners.indexOf(listener);
    if (index >= 0) listeners.splice(index, 1);
  }

  /** Aborts once: `reason` is kept and every listener runs, in the order they were added. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners === undefined) return;
    for (const listener of listeners) {
      try {
        if (typeof listener === "function") listener();
        else listener.handleEvent();
      } catch {
        // One listener's failure must not keep the others from running, nor take the process down.
      }
    }
  }
}

/** A signal that never aborts, for calls nobody can cancel. */
export const NEVER_ABORTED: CallSignal = new CallAbort();
