/** The log miner's masks before issue 11 (main at 71ebae2), frozen for bench:adversarial. Not used by the service. */
/**
 * Order matters: wider patterns first, so an email's digits are not masked as numbers.
 * The third element is a cheap substring every match contains: most lines skip most regexes.
 */
const MASKS: readonly [RegExp, string, string?][] = [
  [/\b[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s"'<>]+/g, '<URL>', '://'],
  [/[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g, '<EMAIL>', '@'],
  [/\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b/g, '<UUID>', '-'],
  [/\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?/g, '<TS>', '-'],
  [/\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b/g, '<IP>', '.'],
  [/\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b/g, '<IP>', ':'],
  // Kubernetes pod names of a Deployment: <name>-<replicaset hash>-<5 random chars>.
  [/\b[a-z][-a-z0-9]*-[0-9a-f]{5,10}-[0-9a-z]{5}\b/g, '<POD>', '-'],
  [/\b0x[0-9a-fA-F]+\b/g, '<HEX>', '0x'],
  // Hex ids (trace ids, hashes, pod suffixes): 8+ hex chars with at least one digit.
  [/\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b/g, '<HEX>'],
  // A number not glued to a word before it: `45ms` -> `<NUM>ms`, `exec-12` -> `exec-<NUM>`, `v7` stays.
  [/(?<![A-Za-z0-9_])\d+(?:\.\d+)?/g, '<NUM>'],
];

/** Replaces variable parts of a line by placeholders before tokenising. */
export function maskLine(line: string): string {
  let out = line;
  for (const [re, placeholder, needle] of MASKS) if (!needle || out.includes(needle)) out = out.replace(re, placeholder);
  return out;
}
