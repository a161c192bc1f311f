/**
 * The header of bench/RESULTS.md: when, what commit, on what machine, and how fast its
 * disk makes a small write durable (the fsync baseline every durable figure is bound by).
 */
import { execFileSync } from "node:child_process";
import { closeSync, fdatasyncSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LatencyRecorder, type LatencySummary, nowMs } from "../load/latency.js";
import { ROOT } from "./processes.js";

export interface MachineInfo {
  readonly date: string;
  readonly commit: string;
  readonly nproc: number;
  readonly cpu: string;
  readonly ramGiB: number;
  readonly node: string;
  readonly kernel: string;
  readonly filesystem: string;
}

function run(command: string, args: readonly string[]): string {
  try {
    return execFileSync(command, [...args], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}

export function machineInfo(dir: string): MachineInfo {
  const head = run("git", ["rev-parse", "--short=12", "HEAD"]) || "unknown";
  const dirty = run("git", ["status", "--porcelain", "--untracked-files=no"]) !== "";
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? "unknown";
  const mhz = /^cpu MHz\s*:\s*(.*)$/m.exec(cpuinfo)?.[1];
  const df = run("df", ["-T", dir]).split("\n")[1]?.split(/\s+/) ?? [];
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    commit: `${head}${dirty ? " (plus uncommitted changes in the working tree)" : ""}`,
    nproc: Number(run("nproc", [])) || os.availableParallelism(),
    cpu: `${model}${mhz ? ` @ ${Math.round(Number(mhz))} MHz` : ""}`,
    ramGiB: os.totalmem() / 2 ** 30,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    filesystem: df.length > 1 ? `${df[1]} on ${df[0]} (mounted at ${df[6]})` : "unknown",
  };
}

/** The fsync baseline: 8 kB write + fdatasync, one at a time, on the repository's disk. */
export interface FsyncBaseline {
  readonly opsPerSecond: number;
  readonly latency: LatencySummary;
  readonly file: string;
}

export function fsyncBaseline(dir: string, seconds = 3): FsyncBaseline {
  const file = path.join(dir, "fsync-baseline.dat");
  const fd = openSync(file, "w");
  const block = Buffer.alloc(8192, 0x5a);
  const latency = new LatencyRecorder();
  // Preallocate 64 blocks and cycle over them, as a WAL does once it has grown.
  for (let i = 0; i < 64; i++) writeSync(fd, block, 0, block.length, i * block.length);
  fdatasyncSync(fd);
  const start = nowMs();
  let ops = 0;
  while (nowMs() - start < seconds * 1000) {
    const t0 = nowMs();
    writeSync(fd, block, 0, block.length, (ops % 64) * block.length);
    fdatasyncSync(fd);
    latency.record(nowMs() - t0);
    ops++;
  }
  const elapsed = (nowMs() - start) / 1000;
  closeSync(fd);
  rmSync(file, { force: true });
  return { opsPerSecond: ops / elapsed, latency: latency.summary(), file };
}
