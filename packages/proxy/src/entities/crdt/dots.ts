/**
 * Dots and causal contexts for the observed-remove CRDTs (ORSet, ORMap), after Almeida,
 * Shoker and Baquero, "Delta State Replicated Data Types" (2018).
 *
 * A dot is one add event: (node id, counter), unique because each replica numbers its
 * own events 1, 2, 3… A causal context is the set of dots a replica has seen, kept as a
 * version vector (every dot up to `versions[node]`) plus a cloud of the dots beyond a
 * gap. Full states always compact into the version vector; delta states carry a cloud.
 * Merging then needs no tombstones: a dot that one side has seen but no longer holds was
 * removed there, so it is dropped from the join.
 */

/** One event: `${counter}@${node}`. A string so dot sets are plain `Set<string>`s. */
export type Dot = string;

/** The dots a replica has seen. Immutable; `versions` never holds zeros. */
export interface DotContext {
  /** Per node, the highest counter such that every dot up to it was seen. */
  readonly versions: ReadonlyMap<string, bigint>;
  /** Seen dots beyond a gap in `versions` (delta states only, after compaction). */
  readonly cloud: ReadonlySet<Dot>;
}

/** The context of a replica that has seen nothing. */
export const EMPTY_CONTEXT: DotContext = Object.freeze({ versions: new Map<string, bigint>(), cloud: new Set<Dot>() });

/** The dot of event `counter` (≥ 1) of `node`. */
export function dotOf(node: string, counter: bigint): Dot {
  return `${counter}@${node}`;
}

/** Splits a dot into its node and counter. Node ids may contain `@`; counters cannot. */
export function parseDot(dot: Dot): { readonly node: string; readonly counter: bigint } {
  const at = dot.indexOf("@");
  return { node: dot.slice(at + 1), counter: BigInt(dot.slice(0, at)) };
}

/** Whether `context` has seen `dot`. */
export function hasSeen(context: DotContext, dot: Dot): boolean {
  if (context.cloud.has(dot)) return true;
  const { node, counter } = parseDot(dot);
  return counter <= (context.versions.get(node) ?? 0n);
}

/**
 * Folds cloud dots that extend the version vector into it and drops those it already
 * covers, so equal knowledge always has one representation (the encoding is canonical).
 */
function compact(versions: Map<string, bigint>, cloud: Iterable<Dot>): DotContext {
  const byNode = new Map<string, bigint[]>();
  for (const dot of cloud) {
    const { node, counter } = parseDot(dot);
    let counters = byNode.get(node);
    if (counters === undefined) byNode.set(node, (counters = []));
    counters.push(counter);
  }
  const left = new Set<Dot>();
  for (const [node, counters] of byNode) {
    counters.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let top = versions.get(node) ?? 0n;
    for (const counter of counters) {
      if (counter <= top) continue;
      if (counter === top + 1n) top = counter;
      else left.add(dotOf(node, counter));
    }
    if (top > 0n) versions.set(node, top);
  }
  return { versions, cloud: left };
}

/** The least context that has seen everything `a` and `b` have seen. */
export function joinContexts(a: DotContext, b: DotContext): DotContext {
  if (b.versions.size === 0 && b.cloud.size === 0) return a;
  if (a.versions.size === 0 && a.cloud.size === 0) return b;
  const versions = new Map(a.versions);
  for (const [node, top] of b.versions) {
    if (top > (versions.get(node) ?? 0n)) versions.set(node, top);
  }
  return compact(versions, [...a.cloud, ...b.cloud]);
}

/** The context that has seen exactly `dots` (a delta state's context). */
export function contextOf(dots: Iterable<Dot>): DotContext {
  return compact(new Map(), dots);
}

/**
 * The next event of `node`: a fresh dot and the context that includes it. A replica
 * always holds all of its own dots in its version vector, so `top + 1` is unused.
 */
export function nextDot(context: DotContext, node: string): { readonly dot: Dot; readonly context: DotContext } {
  const counter = (context.versions.get(node) ?? 0n) + 1n;
  const dot = dotOf(node, counter);
  const versions = new Map(context.versions);
  versions.set(node, counter);
  // A cloud dot of our own node above the new top cannot exist (see above), so no re-compaction is needed.
  return { dot, context: { versions, cloud: context.cloud } };
}

/**
 * The join of two dot sets held under their contexts: dots both hold survive, and a dot
 * only one side holds survives unless the other side has seen it (then it was removed there).
 */
export function joinDots(a: ReadonlySet<Dot>, aContext: DotContext, b: ReadonlySet<Dot>, bContext: DotContext): Set<Dot> {
  const kept = new Set<Dot>();
  for (const dot of a) {
    if (b.has(dot) || !hasSeen(bContext, dot)) kept.add(dot);
  }
  for (const dot of b) {
    if (!a.has(dot) && !hasSeen(aContext, dot)) kept.add(dot);
  }
  return kept;
}

/** Total order on dots: by node id, then counter (canonical encodings and tie-breaks). */
export function compareDots(a: Dot, b: Dot): number {
  const x = parseDot(a);
  const y = parseDot(b);
  if (x.node !== y.node) return x.node < y.node ? -1 : 1;
  return x.counter < y.counter ? -1 : x.counter > y.counter ? 1 : 0;
}
