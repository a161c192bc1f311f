/**
 * The commands the docs show are commands users paste: a `curl` that sends a body must say
 * what the body is, or the proxy answers 415/400 (a browser-safe default, see docs/http.md).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function markdownFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) markdownFiles(path, out);
    else if (name.endsWith(".md")) out.push(path);
  }
  return out;
}

describe("the docs' commands", () => {
  it("every curl that sends a body names its content type", () => {
    const offenders: string[] = [];
    for (const file of markdownFiles(ROOT)) {
      readFileSync(file, "utf8")
        .split("\n")
        .forEach((line, index) => {
          const curl = /(^|[\s;&|`(])curl\s/.test(line);
          const body = /\s(-d|--data(-raw|-binary)?|--json)\s/.test(line);
          if (curl && body && !/content-type/i.test(line) && !/\s--json\s/.test(line)) offenders.push(`${relative(ROOT, file)}:${index + 1}: ${line.trim()}`);
        });
    }
    assert.deepEqual(offenders, []);
  });
});
