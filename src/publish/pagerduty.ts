import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { httpRequest, parseJsonBody } from '../clients/http';
import { alertKey } from '../model/alert';
import type { AnnotationRecord } from '../model/record';
import { clip } from '../text';
import { groupTimes, serviceOf } from './group-view';
import { groupLinks, linkRange, type LogLinkOptions } from './links';
import { honourRetryAfter } from './retry';
import { highestSeverity, routeRecords, type Severity } from './routing';
import { eventId, whileHeld, type PublishState } from './state';
import { verdictOfRecord } from './verdict';
import { VERDICT_LABELS } from '../model/verdict';
import type { PublishEvent, PublishResult, Publisher } from './types';

/**
 * PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/):
 * one alert per Alertmanager group, keyed by `dedup_key`; `trigger` while alerts at or above
 * PAGERDUTY_MIN_SEVERITY fire, `resolve` when the group resolves.
 * 202 is success; 400 permanent (PagerDuty says why in `errors`), 429 and 5xx retryable —
 * exactly the shared classifier in clients/http.ts.
 */

const TARGET = 'pagerduty';
/** Resolved alerts remembered per group (newest kept). */
const MAX_RESOLVED = 1000;

/** Limits of the Events API v2 (docs/architecture.md). */
export const PAGERDUTY_LIMITS = { summary: 1024, dedupKey: 255, eventBytes: 512 * 1024 } as const;

/** 202 body: `{"status":"success","message":"Event processed","dedup_key":"…"}`. */
const acceptedSchema = z.looseObject({ status: z.string(), dedup_key: z.string().optional() });

/** One dedup_key per group: the groupKey itself, or its digest when it is too long. */
export function pagerDutyDedupKey(groupKey: string): string {
  if (groupKey.length <= PAGERDUTY_LIMITS.dedupKey) return groupKey;
  return `sha256:${createHash('sha256').update(groupKey).digest('hex')}`;
}

/** Every string inside a JSON-like value clipped to `max` characters. */
function clipStrings<T>(value: T, max: number): T {
  if (typeof value === 'string') return clip(value, max) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => clipStrings(v, max)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clipStrings(v, max)])) as T;
  }
  return value;
}

export interface PagerDutyOptions {
  routingKey: string;
  eventsUrl: string;
  minSeverity: Severity;
  grafanaUrl?: string;
  /** Label names that name the service, in order (SERVICE_LABELS, parsed once in wiring). */
  serviceLabels: readonly string[];
  /** LOKI_STREAM_LABELS and LOKI_LOG_FILTER for the Logs link. */
  logs?: LogLinkOptions;
  timeoutMs?: number;
  /** The clock the link window runs to while the group fires. */
  now?: () => Date;
  log?: Logger;
}

export interface PagerDutyTrigger {
  routing_key: string;
  event_action: 'trigger';
  dedup_key: string;
  payload: {
    summary: string;
    source: string;
    severity: Severity;
    timestamp?: string;
    component?: string;
    group?: string;
    class?: string;
    custom_details: Record<string, unknown>;
  };
  links: { href: string; text: string }[];
  client: string;
  client_url?: string;
}

export interface PagerDutyResolve {
  routing_key: string;
  event_action: 'resolve';
  dedup_key: string;
}

/** The trigger event for the firing records of one group (records must not be empty). */
export function buildTrigger(
  event: PublishEvent,
  firing: readonly AnnotationRecord[],
  opts: Pick<PagerDutyOptions, 'routingKey' | 'grafanaUrl' | 'serviceLabels' | 'logs' | 'now'>,
): PagerDutyTrigger {
  const lead = firing[firing.length - 1];
  if (!lead) throw new Error('buildTrigger needs at least one firing record');
  const service = serviceOf(lead.labels, opts.serviceLabels);
  const count = firing.length + event.payload.truncatedAlerts;
  const { start, end } = groupTimes(firing);
  const links = groupLinks({
    lead,
    alerts: firing,
    payload: event.payload,
    ...(opts.grafanaUrl ? { grafanaUrl: opts.grafanaUrl } : {}),
    ...(service ? { service } : {}),
    ...(opts.logs ? { logs: opts.logs } : {}),
    range: linkRange(start, end, opts.now?.() ?? new Date()),
  });
  const detail: Record<string, unknown> = {
    verdict: VERDICT_LABELS[verdictOfRecord(lead)],
    summary: lead.summary,
    root_cause: lead.rootCause,
    confidence: lead.confidence,
    next_steps: lead.actions,
    suspects: lead.suspects.slice(0, 5).map((s) => `${s.service}: ${s.indicator} (score ${s.score.toFixed(1)})`),
    findings: lead.findings.slice(0, 30).map((f) => `[${f.id}] ${clip(f.text, 500)}`),
    evidence: lead.evidence ?? [],
    firing_alerts: firing.slice(0, 50).map((r) => r.labels),
    truncated_alerts: event.payload.truncatedAlerts,
    related_trace_ids: lead.relatedTraceIds.slice(0, 10),
    annotator_trace_id: lead.traceId,
    narrator: lead.narrator === 'template' ? 'deterministic (no AI)' : `${lead.narrator} (AI, verify before acting)`,
    ...(lead.llm ? { model_cost: { calls: lead.llm.calls, tokens: lead.llm.promptTokens + lead.llm.completionTokens } } : {}),
  };
  const trigger: PagerDutyTrigger = {
    routing_key: opts.routingKey,
    event_action: 'trigger',
    dedup_key: pagerDutyDedupKey(event.payload.groupKey),
    payload: {
      summary: clip(`[FIRING:${count}] ${lead.alertname}: ${lead.summary}`, PAGERDUTY_LIMITS.summary),
      // `source` is required and names where the problem is.
      source: clip(lead.labels.instance ?? service ?? lead.alertname, 255),
      severity: highestSeverity(firing),
      ...(start !== undefined ? { timestamp: new Date(start).toISOString() } : {}),
      ...(service ? { component: clip(service, 255) } : {}),
      ...((lead.labels.namespace ?? lead.labels.cluster ?? lead.labels.job)
        ? { group: clip(lead.labels.namespace ?? lead.labels.cluster ?? lead.labels.job ?? '', 255) }
        : {}),
      class: clip(lead.alertname, 255),
      custom_details: detail,
    },
    links,
    client: 'alert-annotator',
    ...(opts.grafanaUrl ? { client_url: opts.grafanaUrl } : {}),
  };
  // An event over 512 KB is refused: shrink step by step, the long lists first.
  const shrink: (() => void)[] = [
    () => (detail.firing_alerts = firing.slice(0, 10).map((r) => clipStrings(r.labels, 256))),
    () => (detail.findings = lead.findings.slice(0, 10).map((f) => `[${f.id}] ${clip(f.text, 200)}`)),
    () => Object.assign(detail, clipStrings(detail, 2000)),
    () => (detail.firing_alerts = `${firing.length} alerts; labels too large to attach`),
    () => Object.assign(detail, clipStrings(detail, 200)),
  ];
  for (const step of shrink) {
    if (Buffer.byteLength(JSON.stringify(trigger)) <= PAGERDUTY_LIMITS.eventBytes - 4096) break;
    step();
  }
  return trigger;
}

export class PagerDutyPublisher implements Publisher {
  readonly name = 'pagerduty' as const;
  constructor(
    private readonly state: PublishState,
    private readonly opts: PagerDutyOptions,
  ) {}

  async publish(event: PublishEvent, signal: AbortSignal): Promise<PublishResult> {
    const records = routeRecords(event.records, this.opts.minSeverity);
    if (records.length === 0) return { target: TARGET, published: false };
    const groupResolved = event.kind === 'resolve' && event.payload.status === 'resolved';
    // Partly resolved groups stay open: the page is about the group, not one alert.
    if (!groupResolved && !records.some((r) => r.status === 'firing')) return { target: TARGET, published: false };

    const group = event.payload.groupKey;
    const dedupKey = pagerDutyDedupKey(group);
    const marker = `${TARGET}:${eventId(event.kind, records, event.nonce)}`;
    return this.state.withLock(group, TARGET, signal, async (lock) => {
      const { state: known, done } = await this.state.load(group, marker, ['pagerduty']);
      if (done) {
        this.opts.log?.debug({ target: TARGET, kind: event.kind }, 'pagerduty: event already delivered, not sending again');
        return { target: TARGET, published: false };
      }
      // State only moves forward: an alert the resolve covered never triggers the incident
      // again (a late narration, a firing job retried after the resolve).
      const resolvedBefore = new Set(known.pagerduty?.resolved ?? []);
      const firing = records.filter((r) => r.status === 'firing' && !resolvedBefore.has(alertKey(r)));
      if (!groupResolved && firing.length === 0) {
        this.opts.log?.debug({ target: TARGET, kind: event.kind }, 'pagerduty: these alerts already resolved, not triggering again');
        return { target: TARGET, published: false };
      }
      const body: PagerDutyTrigger | PagerDutyResolve = groupResolved
        ? { routing_key: this.opts.routingKey, event_action: 'resolve', dedup_key: dedupKey }
        : buildTrigger(event, firing, this.opts);
      const res = await honourRetryAfter(
        () =>
          // A paused worker whose group was taken over sends nothing: its trigger could follow the resolve.
          whileHeld(lock, TARGET, 'sending the event', () =>
            httpRequest(TARGET, { method: 'POST', url: this.opts.eventsUrl, body, timeoutMs: this.opts.timeoutMs ?? 10_000, signal }),
          ),
        signal,
      );
      try {
        parseJsonBody(TARGET, res, acceptedSchema);
      } catch (err) {
        // The event is accepted at this point; an odd body is worth a line, not a retry.
        this.opts.log?.warn(
          { target: TARGET, status: res.status, error: (err as Error).message },
          'pagerduty: accepted with an unexpected body',
        );
      }
      const resolvedNow = groupResolved
        ? { pagerduty: { resolved: [...new Set([...resolvedBefore, ...records.map((r) => alertKey(r))])].slice(-MAX_RESOLVED) } }
        : {};
      await this.state.save(group, resolvedNow, marker);
      return { target: TARGET, published: true };
    });
  }
}
