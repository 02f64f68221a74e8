/**
 * Text that came from application logs is data anyone who can make the application log a
 * line controls. It may be shown as a quotation in its place (the LOG DATA section, the
 * record's findings), never spoken in the note's own voice or in a trusted prompt section.
 */

const QUOTED = /"[^"]*(?:"|$)|“[^”]*(?:”|$)/g;

/**
 * A suspect's indicator without the log text it quotes: `new log pattern "ERROR …"` becomes
 * `new log pattern (quoted in the findings)`. Indicators about metrics and traces are kept.
 */
export function indicatorWithoutLogText(indicator: string): string {
  if (!/\blog\b/i.test(indicator)) return indicator;
  return indicator.replace(QUOTED, '(quoted in the findings)');
}
