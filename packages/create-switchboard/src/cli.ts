import { parseArgs } from "node:util";
import { createProject, TEMPLATES, type TemplateName } from "./create-project.js";
import { VERSIONS } from "./versions.js";

/** Help text of `create-switchboard`. */
export const HELP = `Usage: create-switchboard <dir> [--template ${TEMPLATES.join("|")}]
       npm create switchboard@latest <dir> -- --template <template>

Creates a Switchboard project in <dir>: a proto, its generated code, one entity,
a unit test with the SDK's testkit, an end-to-end test running the proxy beside
the user function, and the scripts generate, build, test, start and dev.

  --template <name>   the entity kind (default value-entity)
  -h, --help          show this help
`;

/** The `create-switchboard` command line; returns the exit code. */
export function cli(argv: readonly string[]): number {
  let parsed: { values: { template?: string | undefined; help?: boolean | undefined }; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { template: { type: "string", short: "t" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
    });
  } catch (error) {
    process.stderr.write(`create-switchboard: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (parsed.values.help === true) {
    process.stdout.write(HELP);
    return 0;
  }
  const [dir, ...extra] = parsed.positionals;
  if (dir === undefined || extra.length > 0) {
    process.stderr.write(`create-switchboard: expected one folder, got ${parsed.positionals.length === 0 ? "none" : parsed.positionals.join(" ")}\n\n${HELP}`);
    return 2;
  }
  const template = parsed.values.template ?? "value-entity";
  const result = createProject({ dir, template: template as TemplateName, versions: VERSIONS });
  if (result.kind === "error") {
    process.stderr.write(`create-switchboard: ${result.message}\n`);
    return 1;
  }
  process.stdout.write(`Created ${result.name} (${template}) in ${result.dir}

Next:
  cd ${dir}
  npm install
  npm test
  npm start
`);
  return 0;
}
