/** Edit distance (insertions, deletions, substitutions) between two strings. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The known names closest to `wanted`, for "did you mean" answers: names containing it
 * (case-insensitive) or its last dotted part first, then by edit distance; at most `max`.
 */
export function nearestNames(wanted: string, known: Iterable<string>, max = 3): string[] {
  const lower = wanted.toLowerCase();
  const short = lower.slice(lower.lastIndexOf(".") + 1);
  const scored = [...known].map((name) => {
    const n = name.toLowerCase();
    const contains = short !== "" && (n.includes(lower) || n.endsWith(short) || lower.includes(n.slice(n.lastIndexOf(".") + 1)));
    return { name, score: (contains ? 0 : 1000) + distance(lower, n) };
  });
  scored.sort((x, y) => x.score - y.score || (x.name < y.name ? -1 : 1));
  return scored.slice(0, max).map((s) => s.name);
}
