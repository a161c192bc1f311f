/**
 * Parses the CloudEvents attributes of a stored topic message (a JSON object of
 * strings); undefined when the text is anything else, which adapters report as data loss.
 */
export function decodeAttributes(text: string): Record<string, string> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const attributes: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== "string") return undefined;
    attributes[key] = value;
  }
  return attributes;
}
