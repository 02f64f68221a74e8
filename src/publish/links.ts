import { DEFAULT_LOKI_LOG_FILTER, DEFAULT_LOKI_STREAM_LABELS, parseStreamLabelMap, streamSelector } from '../clients/loki';
import type { AnnotationRecord } from '../model/record';
import type { AlertLine } from './group-view';
import type { PublishEvent } from './types';

/**
 * The links a message carries, built only from configuration and the alert's own URLs
 * (never from text the model or the logs wrote). Slack and PagerDuty format them their way.
 */

export interface Link {
  text: string;
  href: string;
}

/** Datasource uids of the provisioned Grafana (grafana/ in this repo). */
const GRAFANA_DATASOURCES = { prometheus: 'prometheus', loki: 'loki', tempo: 'tempo' } as const;

/** http(s) URLs only: a `javascript:` runbook_url must not become a link. */
export function httpUrl(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** Grafana Explore with one query (https://grafana.com/docs/grafana/latest/explore/#share-explore-urls). */
function grafanaExploreUrl(
  grafanaUrl: string,
  datasource: keyof typeof GRAFANA_DATASOURCES,
  query: Record<string, string>,
  range: { from: number; to: number },
): string {
  const uid = GRAFANA_DATASOURCES[datasource];
  const panes = {
    a: {
      datasource: uid,
      queries: [{ refId: 'A', datasource: { type: datasource, uid }, ...query }],
      range: { from: String(range.from), to: String(range.to) },
    },
  };
  return `${grafanaUrl.replace(/\/+$/, '')}/explore?schemaVersion=1&orgId=1&panes=${encodeURIComponent(JSON.stringify(panes))}`;
}

/** The PromQL of a Prometheus alert: the `g0.expr` of its generatorURL. */
function alertExpression(generatorURL: string | undefined): string | undefined {
  if (!generatorURL) return undefined;
  try {
    return new URL(generatorURL).searchParams.get('g0.expr') ?? undefined;
  } catch {
    return undefined;
  }
}

/** Alertmanager's "new silence" form, prefilled with the group's matchers. */
function silenceUrl(externalURL: string, labels: Record<string, string>): string | undefined {
  const matchers = Object.entries(labels)
    .filter(([k]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  if (!externalURL || matchers.length === 0) return undefined;
  return `${externalURL.replace(/\/+$/, '')}/#/silences/new?filter=${encodeURIComponent(`{${matchers.join(', ')}}`)}`;
}

export interface LogLinkOptions {
  streamLabels: readonly (readonly [string, string])[];
  lineFilter: string;
}

const DEFAULT_LOG_LINK: LogLinkOptions = {
  streamLabels: parseStreamLabelMap(DEFAULT_LOKI_STREAM_LABELS),
  lineFilter: DEFAULT_LOKI_LOG_FILTER,
};

/**
 * The LogQL of the Logs link: the streams of the lead alert through the same label map and
 * line filter the log source used, so the link shows the lines the analysis read.
 */
function logsQuery(lead: AnnotationRecord, service: string | undefined, opts: LogLinkOptions): string | undefined {
  const selector =
    streamSelector(lead, opts.streamLabels) ?? (service ? streamSelector({ labels: { service } }, opts.streamLabels) : undefined);
  if (!selector) return undefined;
  return opts.lineFilter ? `${selector} |~ ${JSON.stringify(opts.lineFilter)}` : selector;
}

/**
 * Where to look at a suspect: its logs in Grafana (through the log source's label map and
 * filter), or the alert's source graph when there is no Grafana and the suspect is the
 * alert's own service. Undefined when nothing specific exists.
 */
export function suspectLink(input: {
  service: string;
  grafanaUrl?: string;
  generatorURL?: string;
  alertService?: string;
  logs?: LogLinkOptions;
  range: { from: number; to: number };
}): Link | undefined {
  const opts = input.logs ?? DEFAULT_LOG_LINK;
  const selector = streamSelector({ labels: { service: input.service } }, opts.streamLabels);
  const logql = selector && (opts.lineFilter ? `${selector} |~ ${JSON.stringify(opts.lineFilter)}` : selector);
  const href = input.grafanaUrl
    ? logql && grafanaExploreUrl(input.grafanaUrl, 'loki', { expr: logql }, input.range)
    : input.service === input.alertService
      ? input.generatorURL
      : undefined;
  const safe = httpUrl(href);
  return safe ? { text: input.grafanaUrl ? `${input.service} logs` : 'source graph', href: safe } : undefined;
}

export interface LinkInput {
  lead: AnnotationRecord;
  alerts: readonly AlertLine[];
  payload: Pick<PublishEvent['payload'], 'externalURL' | 'groupLabels' | 'commonLabels'>;
  grafanaUrl?: string;
  /** The service whose logs to show. */
  service?: string;
  /** What the log source queries (LOKI_STREAM_LABELS, LOKI_LOG_FILTER); their defaults when absent. */
  logs?: LogLinkOptions;
  /** The window the links show. */
  range: { from: number; to: number };
}

/**
 * The window every link shows, the same in Slack and PagerDuty: from half an hour before
 * the start to the end (or now), at least an hour.
 */
export function linkRange(start: number | undefined, end: number | undefined, now: Date): { from: number; to: number } {
  const from = (start ?? now.getTime()) - 30 * 60_000;
  return { from, to: Math.max(end ?? now.getTime(), from + 60 * 60_000) };
}

/** Metrics, logs and traces in Grafana (or the source graph without it), runbook, silence. */
export function groupLinks(input: LinkInput): Link[] {
  const { lead, alerts, payload, grafanaUrl, service, range } = input;
  const first = alerts.find((a) => a.status === 'firing') ?? alerts[0];
  const generator = lead.generatorURL ?? first?.generatorURL;
  const out: { text: string; href: string | undefined }[] = [];
  const expr = alertExpression(generator);
  if (grafanaUrl) {
    if (expr) out.push({ text: 'Metrics', href: grafanaExploreUrl(grafanaUrl, 'prometheus', { expr }, range) });
    const logql = logsQuery(lead, service, input.logs ?? DEFAULT_LOG_LINK);
    if (logql) out.push({ text: 'Logs', href: grafanaExploreUrl(grafanaUrl, 'loki', { expr: logql }, range) });
    for (const id of lead.relatedTraceIds.filter((t) => /^[0-9a-f]{16,32}$/i.test(t)).slice(0, 3)) {
      out.push({
        text: `Trace ${id.slice(0, 8)}`,
        href: grafanaExploreUrl(grafanaUrl, 'tempo', { queryType: 'traceql', query: id }, range),
      });
    }
  } else if (generator) {
    out.push({ text: 'Source graph', href: generator });
  }
  out.push({ text: 'Runbook', href: lead.runbookUrl ?? first?.runbookUrl });
  // The route's own links (ROUTES_FILE `links`), after the ones every message has.
  for (const l of lead.links ?? []) out.push({ text: l.title, href: l.url });
  const matchers = Object.keys(payload.groupLabels).length ? payload.groupLabels : payload.commonLabels;
  out.push({ text: 'Silence', href: silenceUrl(payload.externalURL, matchers) });
  return out.flatMap((l) => {
    const href = httpUrl(l.href);
    return href ? [{ text: l.text, href }] : [];
  });
}
