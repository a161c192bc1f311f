/**
 * A language support in the conformance matrix: how to obtain it, the user functions to run
 * the TCK against, and the areas each one is run for.
 */
import type { Area } from "@switchboard/tck";

/** One TCK run: a user function and the areas run against it. */
export interface SupportRun {
  readonly areas: readonly Area[];
  /** Shell command starting the user function (the TCK adds HOST and PORT). */
  readonly functionCommand: string;
}

/** What `setup` found. */
export type SetupResult =
  /** Ready: one TCK run per user function (go-support has one for every area; others a TCK model and a shopping cart). */
  | { readonly kind: "ready"; readonly runs: readonly SupportRun[]; readonly notes: readonly string[] }
  /** Not run, and that is expected for now (e.g. its setup is still being written). */
  | { readonly kind: "not-run"; readonly reason: string }
  /** Could not be obtained: `reason` names the request that failed. The conformance run fails. */
  | { readonly kind: "unobtainable"; readonly reason: string };

/** Where supports put what they download and build. */
export interface SetupContext {
  /** Repository root. */
  readonly root: string;
  /** Git-ignored cache directory (`<root>/.tck`). */
  readonly cacheDir: string;
  /** Progress output. */
  log(line: string): void;
}

/** One row of the matrix. */
export interface Support {
  /** Section of the known failures, and the `--support` of the TCK runs. */
  readonly name: string;
  /** Row title in RESULTS.md. */
  readonly title: string;
  /** Areas this support is run for; the others are `not run` with `notCovered`. */
  readonly areas: readonly Area[];
  /** Why the other areas are not run. */
  readonly notCovered: string;
  /** A more precise reason than `notCovered` for some of those areas. */
  readonly notCoveredAreas?: Partial<Record<Area, string>>;
  /** A known-failures file of its own (default: packages/tck/known-failures.txt). */
  readonly knownFailuresFile?: string;
  /** Obtains the support (from its registry, or this repository) and builds what it needs. */
  setup(context: SetupContext): Promise<SetupResult>;
}

/** A command as an argument vector (the shape node-support's and python-support's hooks use). */
export interface SupportCommand {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** Quotes one word for `sh`. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Turns an argument vector (with its extra environment) into a shell command line. */
export function toShellCommand(command: SupportCommand): string {
  const env = Object.entries(command.env).map(([key, value]) => `${key}=${shellQuote(value)}`);
  return [...env, shellQuote(command.cmd), ...command.args.map(shellQuote)].join(" ");
}

/**
 * The hook shape of test/conformance/supports/{node,python}-support/index.ts: a setup that
 * installs the published library (rejecting with the failed step and request), an event
 * sourced TCK model user function, a shopping cart user function, and a known-failures file.
 */
export interface LanguageSupportHook {
  readonly name: string;
  readonly displayName: string;
  setup(): Promise<void>;
  readonly tckModelCommand: SupportCommand | undefined;
  readonly shoppingCartCommand: SupportCommand;
  readonly knownFailuresFile: string;
}

/**
 * Adapts a {@link LanguageSupportHook}: Discovery and ES run against its TCK model, the
 * Shopping cart area against its shopping cart.
 */
export function fromLanguageSupportHook(hook: LanguageSupportHook, notCovered: string): Support {
  const areas: Area[] = hook.tckModelCommand ? ["Discovery", "ES", "Shopping cart"] : ["Shopping cart"];
  return {
    name: hook.name,
    title: hook.displayName,
    areas,
    notCovered,
    knownFailuresFile: hook.knownFailuresFile,
    async setup() {
      try {
        await hook.setup();
      } catch (error) {
        return { kind: "unobtainable", reason: (error as Error).message.split("\n").join("; ") };
      }
      const runs: SupportRun[] = [];
      if (hook.tckModelCommand) runs.push({ areas: ["Discovery", "ES"], functionCommand: toShellCommand(hook.tckModelCommand) });
      runs.push({ areas: ["Shopping cart"], functionCommand: toShellCommand(hook.shoppingCartCommand) });
      return { kind: "ready", runs, notes: [] };
    },
  };
}
