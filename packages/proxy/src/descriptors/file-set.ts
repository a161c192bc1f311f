import { create, type DescFile } from "@bufbuild/protobuf";
import { type DescriptorProto, type FileDescriptorProto, type FileDescriptorSet, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import * as wkt from "@bufbuild/protobuf/wkt";
import { BUNDLED_FILES } from "@switchboard/protocol";

/** Our own copies of the files user functions may import without shipping them. */
function bundledFiles(): Map<string, FileDescriptorProto> {
  const files = new Map<string, FileDescriptorProto>();
  const add = (file: DescFile) => {
    files.set(file.proto.name, file.proto);
    for (const dep of file.dependencies) add(dep);
  };
  for (const value of Object.values(wkt)) {
    if (typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "file") add(value as DescFile);
  }
  for (const file of BUNDLED_FILES) add(file);
  return files;
}

let bundled: Map<string, FileDescriptorProto> | undefined;

/** protoc's JSON name of a field: lowerCamelCase of its proto name. */
export function jsonNameOf(name: string): string {
  let out = "";
  let upper = false;
  for (const ch of name) {
    if (ch === "_") upper = true;
    else {
      out += upper ? ch.toUpperCase() : ch;
      upper = false;
    }
  }
  return out;
}

/**
 * Fills in missing `json_name`s. protoc always sets them, but descriptors embedded in
 * generated code (python-support 0.1.1) leave them empty, which would make every JSON
 * field name empty in HTTP transcoding.
 */
function fillJsonNames(message: DescriptorProto): void {
  for (const field of message.field) if (field.jsonName === "") field.jsonName = jsonNameOf(field.name);
  for (const nested of message.nestedType) fillJsonNames(nested);
}

/** Result of {@link normalizeFileSet}. */
export type NormalizeResult =
  | { readonly set: FileDescriptorSet; readonly warnings: readonly string[]; readonly error?: undefined }
  | { readonly set?: undefined; readonly warnings: readonly string[]; readonly error: string };

/**
 * Puts a user function's FileDescriptorSet in a shape `createFileRegistry` accepts:
 * repeated files dropped (first wins), files ordered so that imports come first, and
 * missing `google/protobuf/*`, `google/api/*` and `cloudstate/*` imports filled from our
 * own copies (with a warning each, since some supports omit them). Any other missing
 * import is an error naming the file that needs it.
 */
export function normalizeFileSet(input: FileDescriptorSet): NormalizeResult {
  bundled ??= bundledFiles();
  const warnings: string[] = [];
  const byName = new Map<string, FileDescriptorProto>();
  for (const file of input.file) {
    if (!byName.has(file.name)) byName.set(file.name, file);
  }
  const ordered: FileDescriptorProto[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, importedBy: string | undefined): string | undefined => {
    const seen = state.get(name);
    if (seen === "done") return undefined;
    if (seen === "visiting") return `import cycle through "${name}"`;
    let file = byName.get(name);
    if (file === undefined) {
      const ours = bundled?.get(name);
      if (ours === undefined || !/^(google\/protobuf|google\/api|cloudstate)\//.test(name)) {
        return `the descriptor set lacks "${name}", imported by "${importedBy ?? "?"}"`;
      }
      warnings.push(`the user function's descriptor set lacks "${name}" (imported by "${importedBy ?? "?"}"); using Switchboard's copy`);
      file = ours;
      byName.set(name, ours);
    }
    for (const message of file.messageType) fillJsonNames(message);
    state.set(name, "visiting");
    for (const dep of file.dependency) {
      const error = visit(dep, name);
      if (error !== undefined) return error;
    }
    state.set(name, "done");
    ordered.push(file);
    return undefined;
  };
  for (const file of input.file) {
    const error = visit(file.name, undefined);
    if (error !== undefined) return { warnings, error };
  }
  return { set: create(FileDescriptorSetSchema, { file: ordered }), warnings };
}
