/**
 * `known-failures.txt`: the cases a support is expected to fail, each with a reason. A run
 * fails on any failure not listed (an unexpected failure) and on any listed case that
 * passes (an unexpected pass), so the list can only shrink as the proxy grows.
 *
 * Format: `# comments`, section headers `[<support>]` (`[all]` applies to every support),
 * and one line per case: `<area> <kind>: <name> | <reason>`.
 */

/** Known failures of one support: case id → reason. */
export type KnownFailures = ReadonlyMap<string, string>;

/** Parses the file; throws on a line without a reason or naming an unknown case. */
export function parseKnownFailures(text: string, knownCaseIds: ReadonlySet<string>): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const where = `known-failures.txt line ${index + 1}`;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      const name = (header[1] as string).trim();
      current = sections.get(name) ?? new Map();
      sections.set(name, current);
      return;
    }
    if (!current) throw new Error(`${where}: a case before any [support] section`);
    const bar = line.indexOf(" | ");
    if (bar < 0) throw new Error(`${where}: expected "<case> | <reason>", got "${line}"`);
    const id = line.slice(0, bar).trim();
    const reason = line.slice(bar + 3).trim();
    if (reason === "") throw new Error(`${where}: "${id}" has no reason`);
    if (!knownCaseIds.has(id)) throw new Error(`${where}: unknown case "${id}"`);
    current.set(id, reason);
  });
  return sections;
}

/** The known failures of `support`: its section plus `[all]`. */
export function knownFailuresFor(sections: ReadonlyMap<string, ReadonlyMap<string, string>>, support: string): KnownFailures {
  return new Map([...(sections.get("all") ?? []), ...(sections.get(support) ?? [])]);
}
