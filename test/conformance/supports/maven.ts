/**
 * Builds the user functions of the JVM rows (./java-support, ./kotlin): Maven
 * projects that depend on `io.cloudstate:cloudstate-java-support` from Maven Central.
 *
 * Steps, each named in the error when it fails:
 *   1. `mvn dependency:build-classpath`: resolves the dependencies into the Maven repository
 *      under the user's home (`~/.m2`, kept between runs like the Go build cache) and writes
 *      the classpath file;
 *   2. the library jar's own protos (cloudstate/*, google/api/*) are unpacked with `jar`, so that
 *      the message classes generated next refer to the library's classes for those imports;
 *   3. Debian's protoc generates the message classes of this repository's protos;
 *   4. `mvn compile`.
 * Build output goes to `~/.cache/switchboard/conformance/<name>/` (or under
 * `$SWITCHBOARD_JVM_CACHE`), beside the Maven repository rather than in the clone, so that a fresh
 * clone (CI) with the same inputs reuses it: a stamp of the inputs (the project, the protos, the
 * java and protoc versions) skips the build.
 * The user functions then run as `java -cp <classes>:<classpath> <main class> <args>`.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type SetupContext, type SetupResult, type Support, toShellCommand } from "./support.js";

/** The published library the projects build against. */
export const JAVA_SUPPORT = { group: "io.cloudstate", artifact: "cloudstate-java-support", version: "0.5.2" } as const;

export interface MavenBuild {
  /** Support name; the build goes to `<cacheDir>/<name>`. */
  readonly name: string;
  /** Directory of pom.xml. */
  readonly project: string;
  /** Repository root (proto roots are relative to it). */
  readonly root: string;
  readonly cacheDir: string;
  /** Protos to generate message classes for, relative to `protocols/tck` or `protocols/example`. */
  readonly protos: readonly string[];
  log(line: string): void;
}

/** What a build produced: how to start a main class. */
export interface MavenOutput {
  command(mainClass: string, args: readonly string[]): string;
  readonly notes: readonly string[];
}

class StepError extends Error {}

function run(step: string, cmd: string, args: readonly string[], cwd: string): string {
  const result = spawnSync(cmd, [...args], { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: 20 * 60_000 });
  if (result.error) throw new StepError(`${step}: cannot run ${cmd}: ${result.error.message}`);
  if (result.status !== 0) {
    const lines = `${result.stdout ?? ""}\n${result.stderr ?? ""}`
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "");
    // Maven names a failed download on its [ERROR] lines (the artifact and the repository URL).
    const errors = lines.filter((l) => l.startsWith("[ERROR]") && !/^\[ERROR\]\s*(->|Re-run|For more|\[Help|To see)/.test(l));
    throw new StepError(
      `${step}: \`${cmd} ${args.join(" ")}\` exited with ${result.status ?? result.signal}: ${(errors.length > 0 ? errors : lines.slice(-10)).slice(0, 12).join("; ")}`,
    );
  }
  return result.stdout;
}

/** Debian's protoc (protobuf-compiler) and the directory holding google/protobuf/*.proto (libprotobuf-dev). */
function findProtoc(): { protoc: string; include: string } {
  const protoc = process.env.PROTOC ?? "protoc";
  run("find protoc (Debian protobuf-compiler)", protoc, ["--version"], process.cwd());
  const includes = [process.env.PROTOC_INCLUDE, "/usr/include", "/usr/local/include"].filter((d): d is string => d !== undefined);
  const include = includes.find((dir) => existsSync(path.join(dir, "google/protobuf/descriptor.proto")));
  if (!include) throw new StepError(`find google/protobuf/descriptor.proto (Debian libprotobuf-dev): not under ${includes.join(", ")}`);
  return { protoc, include };
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .sort();
}

/** Builds the project (or finds it up to date); throws with the failed step. */
export function mavenBuild(build: MavenBuild): MavenOutput {
  const out = path.join(build.cacheDir, build.name);
  const relative = (file: string) => path.relative(build.root, file);
  const classes = path.join(out, "build", "classes");
  const classpathFile = path.join(out, "build", "classpath.txt");
  const stampFile = path.join(out, "stamp");
  const protoRoots = ["protocols/tck", "protocols/example"].map((p) => path.join(build.root, p));
  const protoFiles = build.protos.map((p) => {
    const found = protoRoots.map((r) => path.join(r, p)).find((f) => existsSync(f));
    if (!found) throw new Error(`${build.name}: proto ${p} not found under ${protoRoots.join(", ")}`);
    return found;
  });
  const hash = createHash("sha256");
  for (const file of [path.join(build.project, "pom.xml"), ...filesUnder(path.join(build.project, "src")), ...protoFiles])
    hash
      .update(`${relative(file)}\0`)
      .update(readFileSync(file))
      .update("\0");
  for (const [cmd, args] of [
    ["java", ["-version"]],
    [process.env.PROTOC ?? "protoc", ["--version"]],
  ] as const) {
    const version = spawnSync(cmd, [...args], { encoding: "utf8" });
    hash.update(`${cmd}\0${version.stdout ?? ""}${version.stderr ?? ""}\0`);
  }
  const stamp = hash.digest("hex");
  const command = (mainClass: string, args: readonly string[]) => {
    const classpath = `${classes}${path.delimiter}${readFileSync(classpathFile, "utf8").trim()}`;
    return toShellCommand({ cmd: "java", args: ["-cp", classpath, mainClass, ...args], env: {} });
  };
  if (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp && existsSync(classpathFile) && existsSync(classes))
    return { command, notes: [`cached build in ${out}`] };

  try {
    run("find java (a JDK 11 or later; Debian default-jdk-headless)", "java", ["-version"], build.project);
    run("find Maven (Debian maven)", "mvn", ["--version"], build.project);
    const { protoc, include } = findProtoc();
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const generated = path.join(out, "generated");
    const protos = path.join(out, "library-protos");
    mkdirSync(generated, { recursive: true });
    mkdirSync(protos, { recursive: true });
    const props = [`-Dbuild.dir=${path.join(out, "build")}`, `-Dgenerated.sources=${generated}`];
    const started = Date.now();
    build.log(`${build.name}: mvn dependency:build-classpath (downloads into ~/.m2 on the first run)`);
    run("resolve the dependencies from Maven Central", "mvn", ["-B", "-q", ...props, "dependency:build-classpath"], build.project);
    const jarName = `${JAVA_SUPPORT.artifact}-${JAVA_SUPPORT.version}.jar`;
    const jar = readFileSync(classpathFile, "utf8")
      .trim()
      .split(path.delimiter)
      .find((entry) => path.basename(entry) === jarName);
    if (!jar) throw new StepError(`find ${jarName} on the resolved classpath: not there`);
    run(`unpack the protos of ${jarName}`, "jar", ["xf", jar, "cloudstate", "google/api"], protos);
    run(
      "generate the message classes with protoc",
      protoc,
      [`-I${protos}`, ...protoRoots.map((r) => `-I${r}`), `-I${include}`, `--java_out=${generated}`, ...build.protos],
      build.project,
    );
    build.log(`${build.name}: mvn compile`);
    run("compile the user functions", "mvn", ["-B", "-q", ...props, "compile"], build.project);
    if (!existsSync(classes) || !statSync(classes).isDirectory()) throw new StepError(`mvn compile produced no ${classes}`);
    writeFileSync(stampFile, stamp);
    return { command, notes: [`built in ${((Date.now() - started) / 1000).toFixed(1)} s`] };
  } catch (error) {
    throw new Error(`${build.name} setup failed at step ${(error as Error).message}`);
  }
}

/** Where the JVM builds are kept between runs and clones. */
const JVM_CACHE = process.env.SWITCHBOARD_JVM_CACHE
  ? path.resolve(process.env.SWITCHBOARD_JVM_CACHE)
  : path.join(os.homedir(), ".cache", "switchboard", "conformance");

/** The protos both JVM projects generate message classes for. */
const JVM_PROTOS = [
  "cloudstate/tck/model/eventsourced.proto",
  "shoppingcart/shoppingcart.proto",
  "shoppingcart/persistence/domain.proto",
  "cloudstate/tck/model/crdt.proto",
];

/**
 * A matrix row for a Maven project of user functions on java-support 0.5.2 whose main class
 * takes `tck-model` (the event-sourced and CRDT TCK models: Discovery, ES, CRDT) or `shopping-cart`.
 */
export function jvmSupport(options: { name: string; title: string; project: string; mainClass: string; knownFailuresFile: string }): Support {
  return {
    name: options.name,
    title: options.title,
    areas: ["Discovery", "ES", "CRDT", "Shopping cart"],
    notCovered: `not in java-support ${JAVA_SUPPORT.version}`,
    knownFailuresFile: options.knownFailuresFile,
    async setup(context: SetupContext): Promise<SetupResult> {
      try {
        const built = mavenBuild({
          name: options.name,
          project: options.project,
          root: context.root,
          cacheDir: JVM_CACHE,
          protos: JVM_PROTOS,
          log: context.log,
        });
        return {
          kind: "ready",
          runs: [
            { areas: ["Discovery", "ES", "CRDT"], functionCommand: built.command(options.mainClass, ["tck-model"]) },
            { areas: ["Shopping cart"], functionCommand: built.command(options.mainClass, ["shopping-cart"]) },
          ],
          notes: built.notes,
        };
      } catch (error) {
        return { kind: "unobtainable", reason: (error as Error).message.split("\n").join("; ") };
      }
    },
  };
}
