/**
 * Reads a V8 CPU profile (node --cpu-prof) of the proxy and says where its CPU went:
 * self time by component and by function, and inclusive time of the proxy's own
 * functions. Percentages are of the busy samples (idle excluded).
 */
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** One line of a ranking. */
export interface Hot {
  readonly name: string;
  readonly pct: number;
}

/** What {@link analyseProfile} finds. */
export interface ProfileSummary {
  readonly file: string;
  /** Wall time the profile covers, in seconds. */
  readonly seconds: number;
  /** Share of samples in which the main thread was busy. */
  readonly busyPct: number;
  readonly components: readonly Hot[];
  readonly selfFunctions: readonly Hot[];
  /** Inclusive time of proxy functions (its dist/), each counted once per sample. */
  readonly proxyInclusive: readonly Hot[];
}

const SPECIAL = new Set(["(garbage collector)", "(program)", "(idle)", "(root)"]);

function shortUrl(url: string): string {
  const p = url.replace(/^file:\/\//, "");
  // The proxy may run from a snapshot of packages/proxy (see snapshotProxy): name it as in the repository.
  const proxy = p.indexOf("/proxy/dist/");
  if (proxy >= 0) return `packages${p.slice(proxy)}`;
  const nm = p.lastIndexOf("node_modules/");
  if (nm >= 0) return p.slice(nm + "node_modules/".length);
  const pk = p.indexOf("/packages/");
  if (pk >= 0) return p.slice(pk + 1);
  return p;
}

/** The component a script belongs to, or undefined for native frames (inherit the caller's). */
function componentOf(frame: CallFrame): string | undefined {
  const { url, functionName } = frame;
  if (url === "") return SPECIAL.has(functionName) ? functionName : undefined;
  if (url.includes("@grpc/grpc-js")) return "grpc-js (client to the user function)";
  if (url.includes("@bufbuild/protobuf")) return "protobuf-es (encode/decode)";
  if (url.includes("better-sqlite3")) return "better-sqlite3 (SQLite itself and its fsync, called from JS)";
  const proxy = /\/proxy\/dist\/([^/]+)/.exec(url);
  if (proxy) return `proxy: ${proxy[1]?.replace(/\.js$/, "")}`;
  if (url.includes("packages/protocol")) return "generated protocol code";
  if (url.startsWith("node:internal/http2") || url.startsWith("node:http2")) return "node:http2";
  if (url.startsWith("node:internal/streams") || url.startsWith("node:stream")) return "node streams";
  if (url.startsWith("node:internal/timers") || url.startsWith("node:timers")) return "node timers";
  if (url.startsWith("node:internal/process/task_queues") || url.startsWith("node:internal/process")) return "node microtasks/nextTick";
  if (url.startsWith("node:"))
    return `node: ${
      url
        .slice(5)
        .replace(/^internal\//, "")
        .split("/")[0]
    }`;
  return shortUrl(url);
}

function frameName(frame: CallFrame): string {
  const name = frame.functionName === "" ? "(anonymous)" : frame.functionName;
  if (frame.url === "") return `${name} (native)`;
  return `${name} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
}

function top(map: Map<string, number>, total: number, n: number): Hot[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, count]) => ({ name, pct: (count / total) * 100 }));
}

/**
 * Summarises one .cpuprofile file. With `windowUs` (CLOCK_MONOTONIC µs, as from the
 * load generator's measured window) only the samples inside it count, so start-up and
 * shutdown stay out of the picture.
 */
export function analyseProfile(file: string, windowUs?: readonly [number, number], topN = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const c of node.children ?? []) parent.set(c, node.id);
  }
  const component = new Map<number, string>();
  const componentFor = (id: number): string => {
    const known = component.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id) as ProfileNode;
    let value = componentOf(node.callFrame);
    if (value === undefined) {
      const p = parent.get(id);
      const inherited = p === undefined ? "native" : componentFor(p);
      value = inherited === "(root)" ? "native" : `${inherited} [native]`;
    }
    component.set(id, value);
    return value;
  };

  const selfByComponent = new Map<string, number>();
  const selfByFunction = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  let t = profile.startTime;
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (windowUs !== undefined && (t < windowUs[0] || t > windowUs[1])) continue;
    first = Math.min(first, t);
    last = Math.max(last, t);
    const id = profile.samples[i] as number;
    const node = byId.get(id);
    if (node === undefined) continue;
    if (node.callFrame.functionName === "(idle)") {
      idle++;
      continue;
    }
    busy++;
    const comp = componentFor(id);
    selfByComponent.set(comp, (selfByComponent.get(comp) ?? 0) + 1);
    const fn = frameName(node.callFrame);
    selfByFunction.set(fn, (selfByFunction.get(fn) ?? 0) + 1);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = (byId.get(cur) as ProfileNode).callFrame;
      if (!frame.url.includes("/proxy/dist/")) continue;
      const name = frameName(frame);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + 1);
    }
  }
  const total = Math.max(1, busy);
  return {
    file,
    seconds: Number.isFinite(first) ? (last - first) / 1e6 : 0,
    busyPct: (busy / Math.max(1, busy + idle)) * 100,
    components: top(selfByComponent, total, 20),
    selfFunctions: top(selfByFunction, total, topN),
    proxyInclusive: top(inclusive, total, topN),
  };
}

/** The newest .cpuprofile in a directory. */
export function newestProfile(dir: string): string | undefined {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort();
  const last = files[files.length - 1];
  return last === undefined ? undefined : path.join(dir, last);
}

/** Markdown for a profile summary. */
export function profileMarkdown(summary: ProfileSummary, title: string): string {
  const table = (rows: readonly Hot[], head: string) =>
    [`| ${head} | % of busy CPU |`, "|---|---|", ...rows.map((r) => `| ${r.name.replace(/\|/g, "\\|")} | ${r.pct.toFixed(1)}% |`)].join("\n");
  return [
    `**${title}** — ${summary.seconds.toFixed(1)} s profiled, main thread busy ${summary.busyPct.toFixed(0)}% of samples (\`${path.basename(summary.file)}\`).`,
    "",
    "<details><summary>Self time by component</summary>",
    "",
    table(summary.components, "component (native frames count toward their caller's component)"),
    "",
    "</details>",
    "",
    "<details><summary>Hottest functions (self time)</summary>",
    "",
    table(summary.selfFunctions, "function"),
    "",
    "</details>",
    "",
    "<details><summary>Proxy functions, inclusive time</summary>",
    "",
    table(summary.proxyInclusive, "function"),
    "",
    "</details>",
  ].join("\n");
}
