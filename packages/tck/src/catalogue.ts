/**
 * The test catalogue: the 186 cases of the upstream TCK, plus this port's shopping-cart
 * smoke cases, read from `catalogue.json` at the package root. Every case is identified by
 * `<area> <kind>: <name>`, the form `known-failures.txt` uses.
 */
import { readFileSync } from "node:fs";

/** The areas, in run order. */
export const AREAS = ["Discovery", "ES", "VE", "Action", "CRDT", "Eventing", "Shopping cart"] as const;
/** One area of the results table. */
export type Area = (typeof AREAS)[number];
/** Model cases drive the user function directly; proxy cases go through the proxy; smoke cases are ours. */
export type CaseKind = "model" | "proxy" | "smoke";

/** One catalogued case. */
export interface CatalogueCase {
  readonly area: Area;
  readonly kind: CaseKind;
  readonly name: string;
  /** Services that must be discovered for the case to run; otherwise it is pending. */
  readonly services: readonly string[];
  /** `<area> <kind>: <name>`. */
  readonly id: string;
  /** True for the 186 upstream cases, false for the smoke cases. */
  readonly upstream: boolean;
}

/** Number of upstream cases. */
export const UPSTREAM_CASE_COUNT = 186;

/** The identifier of a case. */
export function caseId(area: Area, kind: CaseKind, name: string): string {
  return `${area} ${kind}: ${name}`;
}

interface CatalogueFile {
  cases: { area: Area; kind: CaseKind; name: string; services: string[] }[];
  smoke: { area: Area; kind: CaseKind; name: string; services: string[] }[];
}

/** Parses catalogue JSON text. */
export function parseCatalogue(text: string): CatalogueCase[] {
  const file = JSON.parse(text) as CatalogueFile;
  const all = [...file.cases.map((c) => ({ ...c, upstream: true })), ...(file.smoke ?? []).map((c) => ({ ...c, upstream: false }))];
  const seen = new Set<string>();
  return all.map((c) => {
    if (!(AREAS as readonly string[]).includes(c.area)) throw new Error(`catalogue: unknown area "${c.area}"`);
    const id = caseId(c.area, c.kind, c.name);
    if (seen.has(id)) throw new Error(`catalogue: duplicate case "${id}"`);
    seen.add(id);
    return { area: c.area, kind: c.kind, name: c.name, services: c.services, id, upstream: c.upstream };
  });
}

/** Reads the catalogue shipped with the package. */
export function loadCatalogue(): CatalogueCase[] {
  return parseCatalogue(readFileSync(new URL("../catalogue.json", import.meta.url), "utf8"));
}
