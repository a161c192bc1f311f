import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

/** The `.proto` files this package ships (Cloudstate annotations and `google/api`), for imports of a user's protos. */
export const PROTO_DIR = fileURLToPath(new URL("../proto", import.meta.url));

/** Help text of `switchboard-generate`. */
export const GENERATE_HELP = `Usage: switchboard-generate [--proto <dir>] [--out <dir>]

Generates protobuf-es TypeScript from your own .proto files. Imports of
"cloudstate/*.proto", "google/api/*.proto" and "switchboard/*.proto" resolve
to the files shipped in @switchboard/protocol, and the generated code imports their code from
"@switchboard/protocol/gen/..." (no copied protos, no buf config to write).
Needs @bufbuild/buf and @bufbuild/protoc-gen-es installed in your project.

  --proto <dir>   folder of your .proto files (default: proto)
  --out <dir>     folder for the generated code, emptied first (default: src/gen)
  -h, --help      show this help
`;

/** What to generate: folders are resolved against `cwd`. */
export interface GenerateOptions {
  readonly protoDir: string;
  readonly outDir: string;
  readonly cwd: string;
}

/** Result of a generation: the files written, or a one-line reason it failed. */
export type GenerateResult = { readonly kind: "ok"; readonly files: readonly string[] } | { readonly kind: "error"; readonly message: string };

function listFiles(dir: string, suffix: string, base = dir): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path, suffix, base));
    else if (name.endsWith(suffix)) out.push(path.slice(base.length + 1));
  }
  return out.sort();
}

/** Finds an installed package's file from the user's project first, then from this package. */
function resolveFrom(cwd: string, specifier: string): string | undefined {
  for (const from of [join(cwd, "package.json"), fileURLToPath(import.meta.url)]) {
    try {
      return createRequire(from).resolve(specifier);
    } catch {
      // try the next place
    }
  }
  return undefined;
}

/**
 * Runs buf with protoc-gen-es over the user's protos. buf only accepts module folders
 * inside its working folder, so both module folders are copied into a scratch workspace
 * first; the output goes straight to `outDir`, wherever the project lives.
 */
export function generate(options: GenerateOptions): GenerateResult {
  const protoDir = resolve(options.cwd, options.protoDir);
  const outDir = resolve(options.cwd, options.outDir);
  if (!existsSync(protoDir) || !statSync(protoDir).isDirectory()) return { kind: "error", message: `no proto folder at ${protoDir}` };
  const protos = listFiles(protoDir, ".proto");
  if (protos.length === 0) return { kind: "error", message: `no .proto files in ${protoDir}` };
  const bufPackage = resolveFrom(options.cwd, "@bufbuild/buf/package.json");
  const pluginPackage = resolveFrom(options.cwd, "@bufbuild/protoc-gen-es/package.json");
  if (bufPackage === undefined || pluginPackage === undefined) {
    return { kind: "error", message: "@bufbuild/buf and @bufbuild/protoc-gen-es must be installed: npm install -D @bufbuild/buf @bufbuild/protoc-gen-es" };
  }
  const buf = join(dirname(bufPackage), "bin", "buf");
  const plugin = join(dirname(pluginPackage), "bin", "protoc-gen-es");

  const scratch = mkdtempSync(join(tmpdir(), "switchboard-generate-"));
  try {
    cpSync(protoDir, join(scratch, "user"), { recursive: true });
    cpSync(PROTO_DIR, join(scratch, "switchboard"), { recursive: true });
    writeFileSync(join(scratch, "buf.yaml"), "version: v2\nmodules:\n  - path: user\n  - path: switchboard\n");
    const template = {
      version: "v2",
      clean: true,
      inputs: [{ directory: "user" }],
      plugins: [
        {
          local: [process.execPath, plugin],
          out: outDir,
          include_imports: false,
          opt: [
            "target=ts",
            "import_extension=js",
            "rewrite_imports=./cloudstate/**/*_pb.js:@switchboard/protocol/gen",
            "rewrite_imports=./google/api/**/*_pb.js:@switchboard/protocol/gen",
            "rewrite_imports=./switchboard/**/*_pb.js:@switchboard/protocol/gen",
          ],
        },
      ],
    };
    const run = spawnSync(process.execPath, [buf, "generate", "--template", JSON.stringify(template)], { cwd: scratch, encoding: "utf8" });
    if (run.error !== undefined) return { kind: "error", message: `cannot run buf: ${run.error.message}` };
    if (run.status !== 0) {
      const reason = `${run.stderr}`.replace(/(^|[\s"])user\//gm, `$1${options.protoDir}/`).trim();
      return { kind: "error", message: `buf generate failed: ${reason}` };
    }
    return { kind: "ok", files: existsSync(outDir) ? listFiles(outDir, ".ts") : [] };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The `switchboard-generate` command line; returns the exit code. */
export function generateCommand(argv: readonly string[], cwd: string): number {
  let values: { proto?: string | undefined; out?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { proto: { type: "string" }, out: { type: "string" }, help: { type: "boolean", short: "h" } },
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`switchboard-generate: ${(error as Error).message}\n\n${GENERATE_HELP}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(GENERATE_HELP);
    return 0;
  }
  const result = generate({ protoDir: values.proto ?? "proto", outDir: values.out ?? "src/gen", cwd });
  if (result.kind === "error") {
    process.stderr.write(`switchboard-generate: ${result.message}\n`);
    return 1;
  }
  process.stdout.write(`switchboard-generate: wrote ${result.files.length} files to ${values.out ?? "src/gen"}\n`);
  return 0;
}
