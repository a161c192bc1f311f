/**
 * CPU accounting: the load generator's own CPU (process.cpuUsage) and any child
 * process's CPU (utime + stime from /proc/<pid>/stat), so every point says how busy
 * each side was. Figures are in "% of one core" (200% = both cores of a 2-core box).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

let ticksPerSecond: number | undefined;

/** The kernel's clock ticks per second (getconf CLK_TCK, almost always 100). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) a process has used so far, or undefined once it is gone. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces; fields after it are space-separated.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / clockTicks();
  } catch {
    return undefined;
  }
}

/** CPU seconds of this process (the load generator). */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** A process to account for: a label and its pid. */
export interface Watched {
  readonly label: string;
  readonly pid: number;
  /** It runs on several threads (e.g. restate-server), so it is not bound to one core. */
  readonly multiCore?: boolean;
}

/** CPU use over a window, per watched process and for the generator, in % of one core. */
export interface CpuReport {
  readonly generatorPct: number;
  readonly processes: Readonly<Record<string, number>>;
  /** Labels of the processes that may use more than one core. */
  readonly multiCore?: readonly string[];
}

/** Starts a CPU window; call the returned function at the window's end. */
export function startCpuWindow(watched: readonly Watched[]): () => CpuReport {
  const t0 = performance.now();
  const self0 = selfCpuSeconds();
  const start = watched.map((w) => processCpuSeconds(w.pid));
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const processes: Record<string, number> = {};
    watched.forEach((w, i) => {
      const before = start[i];
      const after = processCpuSeconds(w.pid);
      processes[w.label] = before === undefined || after === undefined ? Number.NaN : ((after - before) / seconds) * 100;
    });
    const multiCore = watched.filter((w) => w.multiCore).map((w) => w.label);
    return { generatorPct: ((selfCpuSeconds() - self0) / seconds) * 100, processes, ...(multiCore.length ? { multiCore } : {}) };
  };
}
