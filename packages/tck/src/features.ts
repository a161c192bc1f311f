/**
 * `features.yaml`: what the proxy under test claims, per area, entity type and capability.
 * It is a strict subset of YAML (top-level keys holding a scalar or one level of
 * `key: value` pairs, and `#` comments), read here without a YAML library.
 */
import { readFileSync } from "node:fs";

/** The parsed file: scalars and one-level maps. */
export type Features = Record<string, string | Record<string, string>>;

/** Parses the YAML subset; throws with the line number on anything else. */
export function parseFeatures(text: string): Features {
  const features: Features = {};
  let section: Record<string, string> | undefined;
  text.split(/\r?\n/).forEach((raw, index) => {
    const withoutComment = raw.replace(/\s+#.*$/, "").replace(/^#.*$/, "");
    if (withoutComment.trim() === "") return;
    const indented = /^\s+/.test(withoutComment);
    const match = /^\s*([^:]+):\s*(.*)$/.exec(withoutComment);
    if (!match) throw new Error(`features.yaml line ${index + 1}: expected "key: value"`);
    const key = (match[1] as string).trim();
    const value = (match[2] as string).trim();
    if (indented) {
      if (!section) throw new Error(`features.yaml line ${index + 1}: indented entry outside a section`);
      section[key] = value;
    } else if (value === "") {
      section = {};
      features[key] = section;
    } else {
      section = undefined;
      features[key] = value;
    }
  });
  return features;
}

/** Reads the `features.yaml` shipped with the package. */
export function loadFeatures(): Features {
  return parseFeatures(readFileSync(new URL("../features.yaml", import.meta.url), "utf8"));
}

/** One line per area claim, e.g. `ES: supported, CRDT: in-progress`. */
export function describeAreaClaims(features: Features): string {
  const areas = features.areas;
  if (typeof areas !== "object") return "no area claims";
  return Object.entries(areas)
    .map(([area, claim]) => `${area}: ${claim}`)
    .join(", ");
}
