import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createProject, packageNameOf, TEMPLATES } from "./create-project.js";
import { VERSIONS } from "./versions.js";

const scratch = mkdtempSync(join(tmpdir(), "create-switchboard-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("createProject()", () => {
  for (const template of TEMPLATES) {
    it(`creates a ${template} project with its proto, generated code, entity, tests and scripts`, () => {
      const dir = join(scratch, `My App ${template}`);
      const result = createProject({ dir, template, versions: VERSIONS });
      assert.equal(result.kind, "created");
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      assert.equal(manifest.name, `my-app-${template}`);
      assert.deepEqual(Object.keys(manifest.scripts).sort(), ["build", "dev", "generate", "prestart", "start", "test"]);
      assert.equal(manifest.dependencies["@switchboard/sdk"], VERSIONS.switchboardRange);
      assert.equal(manifest.devDependencies["@switchboard/proxy"], VERSIONS.switchboardRange);
      for (const file of [".gitignore", "tsconfig.json", "README.md", "src/main.ts", "test/e2e.test.ts", "test/example.ts"]) {
        assert.ok(existsSync(join(dir, file)), `${file} exists`);
      }
      assert.ok(!existsSync(join(dir, "template.json")), "the template's own notes stay behind");
      assert.doesNotMatch(readFileSync(join(dir, "README.md"), "utf8"), /\{\{/, "every placeholder filled");
    });
  }

  it("refuses a folder that is not empty, and an unknown template", () => {
    const dir = join(scratch, "taken");
    mkdirSync(dir);
    writeFileSync(join(dir, "x"), "");
    assert.deepEqual(createProject({ dir, template: "action", versions: VERSIONS }), { kind: "error", message: `${dir} exists and is not empty` });
    assert.deepEqual(createProject({ dir: join(scratch, "n"), template: "nope" as never, versions: VERSIONS }), {
      kind: "error",
      message: 'unknown template "nope"; choose one of value-entity, event-sourced, crdt, action',
    });
  });

  it("names the package after the folder", () => {
    assert.equal(packageNameOf("/x/My Cool_App!"), "my-cool_app-");
    assert.equal(packageNameOf("/x/.hidden"), "hidden");
  });

  it("pins the versions this repository builds with", () => {
    const root = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8"));
    const sdk = JSON.parse(readFileSync(new URL("../../sdk/package.json", import.meta.url), "utf8"));
    assert.equal(VERSIONS.switchboardRange, `^${sdk.version}`);
    assert.equal(VERSIONS.protobufRange, sdk.dependencies["@bufbuild/protobuf"]);
    assert.equal(VERSIONS.bufRange, `^${root.devDependencies["@bufbuild/buf"]}`);
    assert.equal(VERSIONS.tsxRange, `^${root.devDependencies.tsx}`);
    assert.equal(VERSIONS.typescriptRange, `^${root.devDependencies.typescript}`);
    assert.equal(VERSIONS.typesNodeRange, `^${root.devDependencies["@types/node"]}`);
  });
});
