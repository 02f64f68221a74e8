import { sanitizeText } from '../model/sanitize';
import type { AnnotationRecord } from '../model/record';
import { clip, formatDuration } from '../text';
import { allResolved, groupTimes, serviceOf, type AlertLine, type GroupView } from './group-view';
import { groupLinks, httpUrl, linkRange, suspectLink, type Link, type LogLinkOptions } from './links';
import { VERDICT_LABELS, type Verdict } from '../model/verdict';
import { ACTIONS, type ButtonValue } from '../model/interaction';
import { verdictOfRecord } from './verdict';
import { normaliseSeverity, highestSeverity, type Severity } from './routing';
import type { PublishEvent } from './types';

/**
 * The Slack message of one alert group, in Block Kit
 * (https://docs.slack.dev/reference/block-kit/blocks). Pure: the same view, payload and
 * clock give the same JSON, which the snapshot tests pin down.
 *
 * Every string that comes from labels, annotations, logs or the model goes through
 * `slackText` (mrkdwn) or `slackPlain` (plain_text): it can neither mention anyone nor carry
 * a link. The only links in a message are the ones built here from configuration.
 */

/** Slack's documented limits (docs/architecture.md, "Where the limits are"). */
export const SLACK_LIMITS = {
  blocks: 50,
  sectionText: 3000,
  header: 150,
  field: 2000,
  fields: 10,
  contextElements: 10,
  /** Slack starts truncating messages a little above 13k characters; stay below with margin. */
  totalChars: 12_000,
  fallbackText: 300,
} as const;

export interface PlainText {
  type: 'plain_text';
  text: string;
  emoji: true;
}
export interface MrkdwnText {
  type: 'mrkdwn';
  text: string;
  /** verbatim: Slack must not turn bare URLs, #channels or @names into links or mentions. */
  verbatim: true;
}
export type SlackBlock =
  | { type: 'header'; text: PlainText }
  | { type: 'section'; text: MrkdwnText }
  | { type: 'section'; fields: MrkdwnText[] }
  | { type: 'context'; block_id?: string; elements: MrkdwnText[] }
  | { type: 'actions'; block_id: string; elements: Button[] }
  | { type: 'divider' };

/** https://docs.slack.dev/reference/block-kit/block-elements/button-element */
export interface Button {
  type: 'button';
  text: PlainText;
  action_id: string;
  /** At most 2000 characters; comes back in the signed interaction. */
  value: string;
  style?: 'primary' | 'danger';
}

export interface SlackMessage {
  /** Notification and screen-reader text; Slack shows it where blocks cannot be shown. */
  text: string;
  blocks: SlackBlock[];
}

export interface SlackMessageOptions {
  /** The time the message is rendered (durations of firing alerts run until now). */
  now: Date;
  grafanaUrl?: string;
  /** Label names that name the service, in order (SERVICE_LABELS). */
  serviceLabels: readonly string[];
  /** LOKI_STREAM_LABELS and LOKI_LOG_FILTER for the Logs link. */
  logs?: LogLinkOptions;
  /** Add the feedback, silence and re-analyze buttons (only when interactions are verified). */
  interactive?: boolean;
}

type GroupPayload = PublishEvent['payload'];

// ---------------------------------------------------------------------------------------
// Text that did not come from us

/** A bare URL (to spot the ones we built ourselves). */
const BARE_URL = /\b(?:https?:\/\/|www\.)[^\s<>"'`|]+/gi;

/**
 * Removes mentions, pings and links from untrusted text with the shared output sanitiser
 * (src/narrate/sanitize.ts). A bare URL that is one of the links we built ourselves
 * (`known`: href → label, e.g. the runbook) first becomes a pointer to that link, since
 * the reader finds it in the message anyway.
 */
function stripSlackMarkup(text: string, known?: ReadonlyMap<string, string>): string {
  const pointed = known?.size
    ? text.replace(BARE_URL, (m) => {
        const trail = /[.,;:!?)]+$/.exec(m)?.[0] ?? '';
        const label = known.get(httpUrl(m.slice(0, m.length - trail.length)) ?? '');
        return label ? `${label} (linked below)${trail}` : m;
      })
    : text;
  return sanitizeText(pointed);
}

/** mrkdwn escaping (https://docs.slack.dev/messaging/formatting-message-text#escaping). */
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Untrusted text for a mrkdwn field: no mentions, no links, escaped. */
export function slackText(text: string, known?: ReadonlyMap<string, string>): string {
  return escapeMrkdwn(stripSlackMarkup(text, known));
}

/** Untrusted text for a plain_text field: Slack shows it literally, so no escaping, only stripping. */
function slackPlain(text: string): string {
  return stripSlackMarkup(text).replace(/[<>]/g, '');
}

/**
 * Cuts mrkdwn to `max` characters without splitting an entity (`&amp;`) or one of our
 * `<url|label>` links, preferring a line break near the end.
 */
export function clipMrkdwn(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, Math.max(0, max - 1));
  const open = cut.lastIndexOf('<');
  if (open > cut.lastIndexOf('>')) cut = cut.slice(0, open);
  const amp = cut.lastIndexOf('&');
  if (amp > cut.lastIndexOf(';') && cut.length - amp < 6) cut = cut.slice(0, amp);
  const nl = cut.lastIndexOf('\n');
  if (nl > cut.length * 0.8) cut = cut.slice(0, nl);
  return `${cut}…`;
}

// ---------------------------------------------------------------------------------------
// Links we build

/** A URL we built, made safe for Slack's `<url|label>`: nothing in it may close the link. */
function slackLink(l: Link): string {
  const href = l.href.replace(/\|/g, '%7C').replace(/</g, '%3C').replace(/>/g, '%3E');
  return `<${href}|${escapeMrkdwn(l.text)}>`;
}

// ---------------------------------------------------------------------------------------
// Facts about the group

const SEVERITY_EMOJI: Record<Severity, string> = {
  critical: ':red_circle:',
  error: ':large_orange_circle:',
  warning: ':large_yellow_circle:',
  info: ':large_blue_circle:',
};
const RESOLVED_EMOJI = ':white_check_mark:';

/** Slack renders `<!date^…>` in each reader's own time zone; the fallback is UTC. */
function slackDate(ms: number): string {
  const iso = new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time}|${iso}>`;
}

/** Labels that tell the group's alerts apart (those not shared by all of them). */
function distinguishing(alerts: readonly AlertLine[]): string[] {
  const keys = new Set(alerts.flatMap((a) => Object.keys(a.labels)));
  return [...keys].filter((k) => k !== 'alertname' && new Set(alerts.map((a) => a.labels[k] ?? '')).size > 1).sort();
}

function describeAlert(a: AlertLine, keys: readonly string[]): string {
  const parts = keys
    .filter((k) => a.labels[k] !== undefined)
    .slice(0, 3)
    .map((k) => `${k}=${a.labels[k]}`);
  return parts.length ? parts.join(' ') : a.alertname;
}

function counts(alerts: readonly AlertLine[]): { firing: number; resolved: number } {
  const firing = alerts.filter((a) => a.status === 'firing').length;
  return { firing, resolved: alerts.length - firing };
}

/** 2140 → "2.1k", 12500 → "12.5k", 830 → "830". */
export function formatTokens(n: number): string {
  return n < 1000 ? String(n) : `${(n / 1000).toFixed(1).replace(/\.0$/, '')}k`;
}

/** Who wrote the summary, and what the model calls behind it cost. */
export function narratorFooter(lead: Pick<AnnotationRecord, 'narrator' | 'llm'>): string {
  const { narrator, llm } = lead;
  if (narrator === 'template' || narrator === '') {
    return llm?.capped
      ? 'Deterministic summary from the findings: the hourly cap of model calls (LLM_MAX_CALLS_PER_HOUR) is reached, so no AI was asked.'
      : 'Deterministic summary from the findings (no AI).';
  }
  const cost = llm
    ? ` · ${llm.calls} call${llm.calls === 1 ? '' : 's'} · ${formatTokens(llm.promptTokens + llm.completionTokens)} tokens`
    : '';
  return `AI summary by ${slackText(narrator)}${cost} · verify before acting`;
}

// ---------------------------------------------------------------------------------------
// Blocks

const mrkdwn = (text: string): MrkdwnText => ({ type: 'mrkdwn', text, verbatim: true });
const section = (text: string): SlackBlock => ({ type: 'section', text: mrkdwn(clipMrkdwn(text, SLACK_LIMITS.sectionText)) });

/** Cited findings first, then the rest of the non-source ones, each on one short line. */
function evidenceLines(lead: AnnotationRecord, t: (s: string) => string): string[] {
  const byId = new Map(lead.findings.map((f) => [f.id, f]));
  const cited = (lead.evidence ?? []).map((id) => byId.get(id)).filter((f) => f !== undefined);
  const shown = cited.length ? cited : lead.findings.filter((f) => f.kind === 'metric' || f.kind === 'log' || f.kind === 'trace');
  return shown
    .filter((f) => !CHANGE_KINDS.has(f.kind))
    .slice(0, MAX_EVIDENCE_LINES)
    .map((f) => `• \`${t(f.id)}\` ${t(clip(f.text, EVIDENCE_LINE_CHARS))}`);
}

const MAX_EVIDENCE_LINES = 4;
const EVIDENCE_LINE_CHARS = 180;
/** Finding kinds shown under "What changed" (the change stage names its findings `change`). */
const CHANGE_KINDS: ReadonlySet<string> = new Set(['change']);

const VERDICT_EMOJI: Record<Verdict, string> = {
  action_required: ':rotating_light:',
  investigate: ':mag:',
  likely_noise: ':zzz:',
  inconclusive: ':grey_question:',
};

/** The first line: what to do, and about what. */
function verdictLine(lead: AnnotationRecord, verdict: Verdict, resolved: boolean): string {
  const top = lead.suspects[0];
  const label = `*${VERDICT_LABELS[verdict]}*`;
  if (resolved) return `${RESOLVED_EMOJI} *Resolved* · the note said ${label}`;
  const about = (() => {
    switch (verdict) {
      case 'action_required':
      case 'investigate':
        return top ? `check *${slackText(top.service)}* (${slackText(clip(top.indicator, 80))})` : 'check what changed below';
      case 'likely_noise':
        return top ? `weak signal only (*${slackText(top.service)}*)` : 'nothing anomalous in the evidence';
      case 'inconclusive':
        return top ? `no clear cause; weak lead *${slackText(top.service)}*` : 'no suspect found in the evidence';
    }
  })();
  return `${VERDICT_EMOJI[verdict]} ${label} · ${about}`;
}

/** The root cause's first sentence (the model writes several). */
function firstSentence(text: string): string {
  const m = /^[\s\S]*?[.!?](?=\s|$)/.exec(text.trim());
  return clip((m?.[0] ?? text).trim(), 300);
}

/**
 * Specific steps first (the runbook, the top suspect with its signal and a link, the change
 * found), then the narrator's own steps that are not already said.
 */
function nextSteps(
  lead: AnnotationRecord,
  built: readonly Link[],
  ctx: { grafanaUrl?: string; alertService?: string; logs?: LogLinkOptions; range: { from: number; to: number } },
  t: (s: string) => string,
): string[] {
  const steps: string[] = [];
  const runbook = built.find((l) => l.text === 'Runbook');
  if (runbook) steps.push(`Follow the ${slackLink(runbook)} for ${slackText(lead.alertname)}`);
  const top = lead.suspects[0];
  if (top) {
    const link = suspectLink({
      service: top.service,
      ...(ctx.grafanaUrl ? { grafanaUrl: ctx.grafanaUrl } : {}),
      ...(lead.generatorURL ? { generatorURL: lead.generatorURL } : {}),
      ...(ctx.alertService ? { alertService: ctx.alertService } : {}),
      ...(ctx.logs ? { logs: ctx.logs } : {}),
      range: ctx.range,
    });
    steps.push(`Check *${slackText(top.service)}*: ${slackText(clip(top.indicator, 120))}` + (link ? ` (${slackLink(link)})` : ''));
  }
  const change = lead.findings.find((f) => CHANGE_KINDS.has(f.kind));
  if (change) steps.push(`Decide whether to roll back \`${t(change.id)}\` ${t(clip(change.text, 160))}`);
  const said = steps.join(' ').toLowerCase();
  for (const a of lead.actions) {
    if (steps.length >= 5) break;
    // The template's runbook and suspect lines are said above, with links.
    if (runbook && /runbook/i.test(a)) continue;
    if (top && a.toLowerCase().includes(`check ${top.service.toLowerCase()}`) && said.includes(top.service.toLowerCase())) continue;
    steps.push(t(a));
  }
  return steps;
}

/** Renders the group's message. */
export function buildSlackMessage(view: GroupView, payload: GroupPayload, opts: SlackMessageOptions): SlackMessage {
  const { lead, alerts } = view;
  const resolved = allResolved(view);
  const severity = highestSeverity(alerts.length ? alerts : [lead]);
  const alertname = lead.alertname || payload.commonLabels.alertname || 'alert';
  const services = [...new Set(alerts.map((a) => serviceOf(a.labels, opts.serviceLabels)).filter((s) => s !== undefined))];
  const { firing, resolved: resolvedCount } = counts(alerts);
  const { start, end } = groupTimes(alerts);
  const verdict = verdictOfRecord(lead);

  const range = linkRange(start, end, opts.now);
  const built = groupLinks({
    lead,
    alerts,
    payload,
    ...(opts.grafanaUrl ? { grafanaUrl: opts.grafanaUrl } : {}),
    ...(services[0] ? { service: services[0] } : {}),
    ...(opts.logs ? { logs: opts.logs } : {}),
    range,
  });
  // The model often quotes the runbook URL; point at our link rather than removing it.
  const known = new Map(built.map((l) => [l.href, l.text]));
  const t = (s: string) => slackText(s, known);

  const headerText = resolved
    ? `${RESOLVED_EMOJI} RESOLVED · ${alertname}`
    : `${SEVERITY_EMOJI[severity]} ${severity.toUpperCase()} · FIRING · ${alertname}`;
  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(slackPlain(headerText), SLACK_LIMITS.header), emoji: true } },
  ];

  // Verdict first: what to do, what broke, why (one sentence each).
  blocks.push(
    section(
      [
        verdictLine(lead, verdict, resolved),
        t(lead.summary),
        `*Root cause* (${slackText(lead.confidence)} confidence): ${t(firstSentence(lead.rootCause))}`,
      ].join('\n'),
    ),
  );

  const changes = lead.findings.filter((f) => CHANGE_KINDS.has(f.kind)).slice(0, 3);
  if (changes.length) {
    blocks.push(section(`*What changed*\n${changes.map((f) => `• \`${t(f.id)}\` ${t(clip(f.text, 240))}`).join('\n')}`));
  }

  if (!resolved) {
    const steps = nextSteps(
      lead,
      built,
      {
        ...(opts.grafanaUrl ? { grafanaUrl: opts.grafanaUrl } : {}),
        ...(services[0] ? { alertService: services[0] } : {}),
        ...(opts.logs ? { logs: opts.logs } : {}),
        range,
      },
      t,
    );
    if (steps.length) blocks.push(section(`*Next steps*\n${steps.map((a) => `• ${a}`).join('\n')}`));
  }

  const evidence = evidenceLines(lead, t);
  const suspects = lead.suspects
    .slice(0, 3)
    .map((s) => `*${slackText(s.service)}* ${slackText(clip(s.indicator, 80))} (${s.score.toFixed(1)})`);
  if (evidence.length || suspects.length) {
    blocks.push(
      section(
        [evidence.length ? `*Evidence*\n${evidence.join('\n')}` : '', suspects.length ? `*Suspects* ${suspects.join(' · ')}` : '']
          .filter(Boolean)
          .join('\n'),
      ),
    );
  }

  const durationMs = start === undefined ? undefined : (end ?? opts.now.getTime()) - start;
  const alertCount =
    `${firing} firing` +
    (resolvedCount ? `, ${resolvedCount} resolved` : '') +
    (payload.truncatedAlerts ? ` (+${payload.truncatedAlerts} not sent by Alertmanager)` : '');
  const fields = [
    `*Service*\n${services.length ? slackText(services.slice(0, 5).join(', ')) : 'unknown'}`,
    `*Started*\n${start === undefined ? 'unknown' : slackDate(start)}`,
    `*${resolved ? 'Resolved after' : 'Duration'}*\n${durationMs === undefined ? 'unknown' : formatDuration(durationMs)}`,
    `*Alerts*\n${alertCount}`,
  ];
  blocks.push({ type: 'section', fields: fields.map((f) => mrkdwn(clipMrkdwn(f, SLACK_LIMITS.field))) });

  if (alerts.length > 1) {
    const keys = distinguishing(alerts);
    const shown = [...alerts].sort((a, b) => (a.status === b.status ? 0 : a.status === 'firing' ? -1 : 1)).slice(0, 10);
    const lines = shown.map((a) => {
      const sev = normaliseSeverity(a.severity);
      return `${a.status === 'firing' ? SEVERITY_EMOJI[sev] : RESOLVED_EMOJI} ${slackText(describeAlert(a, keys))}`;
    });
    if (alerts.length > shown.length) lines.push(`…and ${alerts.length - shown.length} more`);
    blocks.push(section(lines.join('\n')));
  }

  if (opts.interactive) blocks.push(...cardButtons(view, verdict, resolved));

  const links = built.map(slackLink);
  if (links.length) blocks.push({ type: 'context', elements: [mrkdwn(clipMrkdwn(links.join('  ·  '), SLACK_LIMITS.sectionText))] });
  blocks.push({ type: 'context', elements: [mrkdwn(narratorFooter(lead))] });

  // Clipped after escaping, so the bound holds for what is sent and no entity is cut in half.
  const text = clipMrkdwn(
    escapeMrkdwn(`${resolved ? '' : `${VERDICT_LABELS[verdict]} · `}${slackPlain(headerText)}: ${stripSlackMarkup(lead.summary)}`),
    SLACK_LIMITS.fallbackText,
  );
  return { text, blocks: fitToLimits(blocks) };
}

const BUTTON_VALUE_MAX = 2000;

/** The labels every firing alert of the group shares: what "Silence 2h" matches. */
function sharedLabels(alerts: readonly AlertLine[]): Record<string, string> {
  const firing = alerts.filter((a) => a.status === 'firing');
  const first = firing[0];
  if (!first) return {};
  return Object.fromEntries(Object.entries(first.labels).filter(([k, v]) => firing.every((a) => a.labels[k] === v)));
}

/** A button value as JSON within Slack's 2000 characters, dropping what is optional first. */
function buttonValue(value: ButtonValue): string {
  const drop: (keyof ButtonValue)[] = ['m', 'k', 'alertname'];
  let v: ButtonValue = value;
  for (let s = JSON.stringify(v); s.length > BUTTON_VALUE_MAX; s = JSON.stringify(v)) {
    const key = drop.shift();
    if (!key) break;
    const { [key]: _gone, ...rest } = v;
    v = rest as ButtonValue;
  }
  return JSON.stringify(v);
}

/**
 * "Was this root cause right?" with 👍 / 👎, then Silence 2h and Re-analyze while the group
 * fires; the buttons already used are left out and what they did is said under them (the
 * `aa-status` context block interactions.ts writes, rebuilt here from the view's marks).
 */
function cardButtons(view: GroupView, verdict: Verdict, resolved: boolean): SlackBlock[] {
  const { lead } = view;
  const done = new Set(view.marks?.done ?? []);
  const base: ButtonValue = {
    f: lead.fingerprint,
    s: lead.startsAt,
    k: lead.groupKey,
    v: verdict,
    alertname: lead.alertname,
  };
  const button = (text: string, action_id: string, value: ButtonValue, style?: Button['style']): Button => ({
    type: 'button',
    text: { type: 'plain_text', text, emoji: true },
    action_id,
    value: buttonValue(value),
    ...(style ? { style } : {}),
  });
  const elements: Button[] = [button(':+1: Right cause', ACTIONS.right, base), button(':-1: Wrong cause', ACTIONS.wrong, base)];
  if (!resolved) {
    const shared = sharedLabels(view.alerts);
    elements.push(
      button(':no_bell: Silence 2h', ACTIONS.silence, { ...base, m: Object.keys(shared).length ? shared : { alertname: lead.alertname } }),
    );
    elements.push(button(':arrows_counterclockwise: Re-analyze', ACTIONS.reanalyze, base));
  }
  const open = elements.filter((e) => !done.has(e.action_id));
  const rated = done.has(ACTIONS.right) || done.has(ACTIONS.wrong);
  const lines = view.marks?.lines ?? [];
  return [
    ...(rated ? [] : [{ type: 'context' as const, elements: [mrkdwn('*Was this root cause right?*')] }]),
    ...(open.length ? [{ type: 'actions' as const, block_id: 'aa-actions', elements: open }] : []),
    ...(lines.length ? [{ type: 'context' as const, block_id: 'aa-status', elements: lines.slice(-10).map((l) => mrkdwn(l)) }] : []),
  ];
}

/** Thread reply texts: what a reader of the thread wants in the history. */
export function newAlertsReply(added: readonly AlertLine[], all: readonly AlertLine[]): string {
  const keys = distinguishing(all);
  const names = added.slice(0, 10).map((a) => slackText(describeAlert(a, keys)));
  const more = added.length > names.length ? ` and ${added.length - names.length} more` : '';
  return `:heavy_plus_sign: ${added.length} new alert${added.length === 1 ? '' : 's'} firing: ${names.join(', ')}${more}`;
}

export function resolvedReply(resolvedLines: readonly AlertLine[], view: GroupView, now: Date): string {
  if (allResolved(view)) {
    const { start, end } = groupTimes(view.alerts);
    const after = start === undefined ? '' : ` after ${formatDuration((end ?? now.getTime()) - start)}`;
    return `${RESOLVED_EMOJI} Resolved${after}.`;
  }
  const keys = distinguishing(view.alerts);
  const names = resolvedLines.slice(0, 10).map((a) => slackText(describeAlert(a, keys)));
  const { firing } = counts(view.alerts);
  return `${RESOLVED_EMOJI} ${resolvedLines.length} resolved: ${names.join(', ')}; ${firing} still firing.`;
}

export function narrationReply(lead: Pick<AnnotationRecord, 'narrator' | 'llm'>): string {
  return `:memo: Summary updated. ${narratorFooter(lead)}`;
}

// ---------------------------------------------------------------------------------------
// Limits

function blockText(b: SlackBlock): number {
  switch (b.type) {
    case 'header':
    case 'section':
      return 'text' in b ? b.text.text.length : b.fields.reduce((n, f) => n + f.text.length, 0);
    case 'context':
      return b.elements.reduce((n, e) => n + e.text.length, 0);
    default:
      return 0;
  }
}

/** Trims, never fails: block count first, then the longest sections until the total fits. */
function fitToLimits(input: readonly SlackBlock[]): SlackBlock[] {
  let blocks = input.slice(0, SLACK_LIMITS.blocks).map((b) => structuredClone(b));
  for (let guard = 0; guard < 100; guard++) {
    const total = blocks.reduce((n, b) => n + blockText(b), 0);
    if (total <= SLACK_LIMITS.totalChars) break;
    let longest: { type: 'section'; text: MrkdwnText } | undefined;
    for (const b of blocks)
      if (b.type === 'section' && 'text' in b && (!longest || b.text.text.length > longest.text.text.length)) longest = b;
    if (!longest || longest.text.text.length <= 200) {
      blocks = blocks.slice(0, -1);
      continue;
    }
    const target = Math.max(200, longest.text.text.length - (total - SLACK_LIMITS.totalChars));
    longest.text.text = clipMrkdwn(longest.text.text, target);
  }
  return blocks;
}
