import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The project templates: one per entity kind. */
export const TEMPLATES = ["value-entity", "event-sourced", "crdt", "action"] as const;

/** A template's name. */
export type TemplateName = (typeof TEMPLATES)[number];

/** Where the templates live in this package. */
export const TEMPLATES_DIR = fileURLToPath(new URL("../templates", import.meta.url));

/** What the repository's outside test and a template's README need to know about it (`templates/<name>/template.json`). */
export interface TemplateInfo {
  readonly label: string;
  readonly entityFile: string;
  readonly tryIt: string;
}

/** Options of {@link createProject}. */
export interface CreateProjectOptions {
  /** The new project's folder; it must not exist or be empty. */
  readonly dir: string;
  readonly template: TemplateName;
  /** Version ranges written into the project's package.json. */
  readonly versions: Readonly<Record<string, string>>;
}

/** Result of {@link createProject}: the project's folder, or a one-line reason. */
export type CreateProjectResult =
  | { readonly kind: "created"; readonly dir: string; readonly name: string }
  | { readonly kind: "error"; readonly message: string };

/** Reads a template's `template.json`. */
export function readTemplateInfo(template: TemplateName): TemplateInfo {
  return JSON.parse(readFileSync(join(TEMPLATES_DIR, template, "template.json"), "utf8")) as TemplateInfo;
}

/** A valid npm package name from a folder name. */
export function packageNameOf(dir: string): string {
  const name = basename(resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, "-")
    .replace(/^[._-]+/, "");
  return name === "" ? "switchboard-app" : name;
}

/**
 * Creates a project from a template: the common files (package.json, tsconfig, README, the
 * end-to-end test) plus the template's proto, generated code, entity, main and unit test.
 */
export function createProject(options: CreateProjectOptions): CreateProjectResult {
  const dir = resolve(options.dir);
  if (!TEMPLATES.includes(options.template)) {
    return { kind: "error", message: `unknown template "${options.template}"; choose one of ${TEMPLATES.join(", ")}` };
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) return { kind: "error", message: `${dir} exists and is not empty` };
  const name = packageNameOf(dir);
  const info = readTemplateInfo(options.template);
  mkdirSync(dir, { recursive: true });
  cpSync(join(TEMPLATES_DIR, "common"), dir, { recursive: true });
  cpSync(join(TEMPLATES_DIR, options.template), dir, { recursive: true, filter: (source) => basename(source) !== "template.json" });
  // npm drops .gitignore files from published packages, so the template names it gitignore.
  renameSync(join(dir, "gitignore"), join(dir, ".gitignore"));
  const values: Record<string, string> = { ...options.versions, name, kind: info.label, entityFile: info.entityFile, tryIt: info.tryIt };
  for (const file of ["package.json", "README.md"]) {
    const path = join(dir, file);
    const text = readFileSync(path, "utf8").replace(/\{\{(\w+)\}\}/g, (_match, key: string) => {
      const value = values[key];
      if (value === undefined) throw new Error(`template ${file} uses {{${key}}}, which has no value`);
      return file === "package.json" ? JSON.stringify(value).slice(1, -1) : value;
    });
    writeFileSync(path, text);
  }
  return { kind: "created", dir, name };
}
