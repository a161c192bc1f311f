import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { clone, create, createFileRegistry, type DescFile } from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { shoppingcart } from "@switchboard/protocol/example";
import { jsonNameOf, normalizeFileSet } from "./file-set.js";

/** The shopping cart file and its imports (copies), imports first, as protoc would list them. */
function cartFiles(): FileDescriptorProto[] {
  const files: FileDescriptorProto[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile) => {
    if (seen.has(file.proto.name)) return;
    seen.add(file.proto.name);
    for (const dep of file.dependencies) visit(dep);
    files.push(clone(FileDescriptorProtoSchema, file.proto));
  };
  visit(shoppingcart.file_shoppingcart_shoppingcart);
  return files;
}

describe("normalizeFileSet", () => {
  it("derives json names missing from embedded descriptors", () => {
    assert.equal(jsonNameOf("product_id"), "productId");
    assert.equal(jsonNameOf("a_b_c"), "aBC");
    const files = cartFiles();
    for (const f of files) for (const m of f.messageType) for (const field of m.field) field.jsonName = "";
    const result = normalizeFileSet(create(FileDescriptorSetSchema, { file: files }));
    assert.equal(result.error, undefined);
    assert.ok(result.set);
    const field = createFileRegistry(result.set)
      .getMessage("com.example.shoppingcart.AddLineItem")
      ?.fields.find((f) => f.name === "product_id");
    assert.equal(field?.jsonName, "productId");
  });

  it("orders files so imports come first, drops repeats and fills missing well-known imports", () => {
    const files = cartFiles().reverse();
    const first = files[0];
    assert.ok(first);
    const input = [...files, first].filter((f) => f.name !== "google/protobuf/empty.proto");
    const result = normalizeFileSet(create(FileDescriptorSetSchema, { file: input }));
    assert.equal(result.error, undefined);
    assert.ok(result.warnings.some((w) => w.includes(`lacks "google/protobuf/empty.proto"`)));
    const names = result.set?.file.map((f) => f.name) ?? [];
    assert.equal(new Set(names).size, names.length);
    assert.ok(names.indexOf("google/protobuf/empty.proto") < names.indexOf("shoppingcart/shoppingcart.proto"));
  });

  it("names the file whose user import is missing", () => {
    const files = cartFiles().map((f) =>
      f.name === "shoppingcart/shoppingcart.proto" ? Object.assign(f, { dependency: [...f.dependency, "my/own.proto"] }) : f,
    );
    const result = normalizeFileSet(create(FileDescriptorSetSchema, { file: files }));
    assert.match(result.error ?? "", /lacks "my\/own\.proto", imported by "shoppingcart\/shoppingcart\.proto"/);
  });
});
