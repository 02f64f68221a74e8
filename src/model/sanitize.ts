/**
 * The output sanitiser for text we did not write (model answers, log lines): what we
 * publish must not ping people or carry links we did not build.
 * Slack's special syntax (https://api.slack.com/reference/surfaces/formatting):
 * `<!here>`, `<!channel>`, `<!everyone>`, `<!subteam^ID>` notify groups, `<@U…>`/`<@W…>`
 * mention users, `<#C…>` links channels, `<url|text>` is a link. Plain `@here` notifies
 * too when a message is sent with link_names.
 */

export interface SanitizeOptions {
  /**
   * URLs (or URL prefixes such as the Grafana base) that we built or that came from the
   * alert's own configuration (runbook_url, generatorURL): these links may stay.
   */
  allowedUrls?: readonly string[];
}

export const LINK_REMOVED = '[link removed]';

const SLACK_SPECIAL = /<([!@#])([^<>|]*)(?:\|([^<>]*))?>/g;
const SLACK_LINK = /<((?:https?|ftp|mailto|slack):[^<>|\s]*)(?:\|([^<>]*))?>/gi;
const BARE_URL = /\b(?:https?|ftp):\/\/[^\s<>"'`)\]}]+|\bwww\.[A-Za-z0-9-]+\.[A-Za-z]{2,}[^\s<>"'`)\]}]*/gi;
const AT_GROUP = /(^|[^\w@])@(channel|here|everyone)\b/gi;
// Control characters other than tab/newline, and bidi overrides that can disguise text.
const INVISIBLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u202a-\u202e\u2066-\u2069]/g;

function allowed(url: string, allowedUrls: readonly string[]): boolean {
  return allowedUrls.some((a) => a.length > 0 && (url === a || url.startsWith(a.endsWith('/') ? a : `${a}/`) || url.startsWith(`${a}?`)));
}

/** Removes group pings, user/channel mentions and foreign links; keeps the readable text. */
export function sanitizeText(text: string, opts: SanitizeOptions = {}): string {
  const allowedUrls = opts.allowedUrls ?? [];
  return text
    .replace(INVISIBLE, '')
    .replace(SLACK_LINK, (_m, url: string, label?: string) =>
      allowed(url, allowedUrls) ? `<${url}${label ? `|${label}` : ''}>` : label?.trim() ? label : LINK_REMOVED,
    )
    .replace(SLACK_SPECIAL, (_m, kind: string, id: string, label?: string) => {
      // <!here>, <@U123|name>, <#C123|general>: keep only a harmless label.
      if (kind === '#') return label ? `#${label}` : '#channel';
      if (kind === '@') return label ? label : 'a user';
      return id.replace(/^subteam\^\w+/, 'a group') || 'group';
    })
    .replace(BARE_URL, (url) => (allowed(url, allowedUrls) ? url : LINK_REMOVED))
    .replace(AT_GROUP, (_m, before: string, word: string) => `${before}${word}`);
}

/** Sanitises every prose field of a narration-like object. */
export function sanitizeFields<T extends { summary: string; rootCause: string; actions: string[] }>(
  value: T,
  opts: SanitizeOptions = {},
): T {
  return {
    ...value,
    summary: sanitizeText(value.summary, opts),
    rootCause: sanitizeText(value.rootCause, opts),
    actions: value.actions.map((a) => sanitizeText(a, opts)),
  };
}
