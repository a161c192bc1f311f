/**
 * go-support: the Go module `github.com/cloudstateio/go-support` v0.3.0 from the Go module
 * proxy, whose TCK command (`tck/cmd/tck_eventsourced`) registers all 15 TCK entities and the
 * shopping cart. The binary is cached under `.tck/bin`.
 *
 * Order of attempts:
 *   1. `go install …/tck/cmd/tck_eventsourced@v0.3.0` in module mode;
 *   2. if that fails (e.g. the proxy refuses the `@v/list` query `go install` makes to look up
 *      deprecations), `go mod download` the exact version and `go build` the command inside the
 *      downloaded module, with its own go.mod and go.sum;
 *   3. if the machine's Go cannot build it, the same with `GOTOOLCHAIN=go1.21.13`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync } from "node:fs";
import * as path from "node:path";
import type { SetupContext, SetupResult, Support } from "./support.js";

const MODULE = "github.com/cloudstateio/go-support";
const VERSION = "v0.3.0";
const COMMAND = `${MODULE}/tck/cmd/tck_eventsourced`;
const FALLBACK_TOOLCHAIN = "go1.21.13";

interface Run {
  ok: boolean;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string>, cwd?: string): Run {
  const result = spawnSync("go", args, { cwd, env: { ...process.env, ...env }, encoding: "utf8", timeout: 15 * 60_000 });
  if (result.error) return { ok: false, stdout: "", stderr: result.error.message };
  return { ok: result.status === 0, stdout: result.stdout, stderr: result.stderr };
}

/** The lines of go's output that name a failed request (or the last line, if none does). */
function failedRequests(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const requests = lines.filter((l) => /https?:\/\/|\b(403|404|410|5\d\d)\b|dial tcp|no such host|timeout/i.test(l));
  return (requests.length > 0 ? requests : lines.slice(-1)).join("; ");
}

/** Builds the TCK binary into `target`; returns notes, or throws with the failed requests. */
function build(target: string, context: SetupContext): string[] {
  const notes: string[] = [];
  const gobin = path.join(path.dirname(target), ".gobin");
  mkdirSync(gobin, { recursive: true });

  context.log(`go-support: go install ${COMMAND}@${VERSION}`);
  const install = run(["install", `${COMMAND}@${VERSION}`], { GOFLAGS: "-mod=mod", GOBIN: gobin });
  if (install.ok) {
    renameSync(path.join(gobin, "tck_eventsourced"), target);
    return [`built with go install ${COMMAND}@${VERSION}`];
  }
  notes.push(`go install ${COMMAND}@${VERSION} failed: ${failedRequests(install.stderr)}`);

  context.log(`go-support: go mod download ${MODULE}@${VERSION}`);
  const download = run(["mod", "download", "-json", `${MODULE}@${VERSION}`], { GOFLAGS: "-mod=mod" });
  let dir: string | undefined;
  try {
    dir = (JSON.parse(download.stdout) as { Dir?: string; Error?: string }).Dir;
  } catch {
    dir = undefined;
  }
  if (!download.ok || !dir)
    throw new Error(`${notes.join("; ")}; go mod download ${MODULE}@${VERSION} failed: ${failedRequests(download.stderr || download.stdout)}`);

  for (const toolchain of [undefined, FALLBACK_TOOLCHAIN]) {
    const env: Record<string, string> = { GOFLAGS: "-mod=readonly", ...(toolchain ? { GOTOOLCHAIN: toolchain } : {}) };
    context.log(`go-support: go build ./tck/cmd/tck_eventsourced in the downloaded module${toolchain ? ` (GOTOOLCHAIN=${toolchain})` : ""}`);
    const built = run(["build", "-o", target, "./tck/cmd/tck_eventsourced"], env, dir);
    if (built.ok) {
      notes.push(`built from the module zip of ${MODULE}@${VERSION}${toolchain ? ` with GOTOOLCHAIN=${toolchain}` : ""}`);
      return notes;
    }
    notes.push(`go build${toolchain ? ` with GOTOOLCHAIN=${toolchain}` : ""} failed: ${failedRequests(built.stderr)}`);
  }
  throw new Error(notes.join("; "));
}

export const goSupport: Support = {
  name: "go-support",
  title: "go-support",
  areas: ["Discovery", "ES", "VE", "Action", "CRDT", "Eventing", "Shopping cart"],
  notCovered: "not covered",
  async setup(context: SetupContext): Promise<SetupResult> {
    const target = path.join(context.cacheDir, "bin", `tck_eventsourced-${VERSION}`);
    // The shopping cart restarts the proxy; a run of its own keeps the at-least-once redelivery
    // of the eventing area's events (legitimate after a restart) out of it.
    const functionCommand = JSON.stringify(target);
    const runs = [
      { areas: goSupport.areas.filter((a) => a !== "Shopping cart"), functionCommand },
      { areas: ["Shopping cart" as const], functionCommand },
    ];
    if (existsSync(target)) return { kind: "ready", runs, notes: [`cached ${path.relative(context.root, target)}`] };
    const version = run(["version"], {});
    if (!version.ok) return { kind: "unobtainable", reason: `no Go toolchain to build ${MODULE}@${VERSION}: ${version.stderr.trim()}` };
    mkdirSync(path.dirname(target), { recursive: true });
    try {
      const notes = build(target, context);
      return { kind: "ready", runs, notes };
    } catch (error) {
      return { kind: "unobtainable", reason: `could not obtain ${MODULE}@${VERSION} from the Go module proxy: ${(error as Error).message}` };
    }
  },
};
