import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Analysis } from '../src/model/analysis';
import type { Narration } from '../src/model/narration';
import { DEFAULT_SERVICE_LABELS } from '../src/analyze/service';
import type { SlackBotOptions } from '../src/publish/slack';
import type { PublishEvent } from '../src/publish/types';
import { FAKE_SLACK_TOKEN } from './fakes/slack';
import { webhookPayloadSchema, type WebhookPayload } from '../src/model/alert';
import { buildRecord, buildResolvedRecord, severityOf, type AnnotationRecord } from '../src/model/record';
import { verdictOf } from '../src/publish/verdict';

/**
 * Publish events built from the recorded Alertmanager payloads, with a fixed analysis and
 * narration, so the publisher tests and Block Kit snapshots do not move when the analysis
 * or the template narrator changes.
 */

const FIXTURE_DIR = join(__dirname, 'fixtures', 'alertmanager');

export function fixtureNames(): string[] {
  return readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
}

export function loadPayload(prefix: string): WebhookPayload {
  const name = fixtureNames().find((f) => f.startsWith(prefix));
  if (!name) throw new Error(`no fixture ${prefix}`);
  const raw = JSON.parse(readFileSync(join(FIXTURE_DIR, name), 'utf8')) as { body: unknown };
  return webhookPayloadSchema.parse(raw.body);
}

export const ANALYSIS: Analysis = {
  findings: [
    { id: 'M1', kind: 'metric', text: 'p99 latency 2.41 s vs baseline 0.31 s (robust z 8.2) since 22:41 UTC', service: 'checkout' },
    { id: 'L1', kind: 'log', text: '412× "upstream connect error: payments:9090 connection refused" (new)', service: 'checkout' },
    { id: 'T1', kind: 'trace', text: 'payments span POST /charge errors in 38 of 40 traces', service: 'payments' },
    { id: 'S1', kind: 'source', text: 'prometheus: 3 series' },
  ],
  suspects: [
    { service: 'payments', indicator: 'error spans', score: 9.4 },
    { service: 'checkout', indicator: 'p99 latency', score: 8.2 },
  ],
  relatedTraceIds: ['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7aaaaaaaaaaaaaaaa'],
  confidence: 'medium',
};

export const NARRATION: Narration = {
  summary: 'Checkout is slow because payments refuses connections.',
  rootCause: 'payments stopped accepting connections on :9090 [L1], so checkout requests wait for timeouts [M1] [T1].',
  evidence: ['L1', 'M1', 'T1'],
  actions: ['Check the payments pods and their last deploy', 'Roll back payments if the deploy is recent'],
  confidence: 'medium',
  narrator: 'ollama:qwen2.5:3b-instruct',
  promptVersion: 'v1',
  llm: { calls: 1, promptTokens: 1804, completionTokens: 312, ms: 4120 },
};

export const NOW = new Date('2026-11-21T23:06:03.869Z');
export const TRACE_ID = 'aaaabbbbccccddddeeeeffff00001111';

export function eventPayload(p: WebhookPayload): PublishEvent['payload'] {
  const { groupKey, status, receiver, groupLabels, commonLabels, commonAnnotations, externalURL, truncatedAlerts } = p;
  return { groupKey, status, receiver, groupLabels, commonLabels, commonAnnotations, externalURL, truncatedAlerts };
}

/** The records the pipeline would write for the payload's firing (or resolved) alerts. */
export function recordsFor(
  p: WebhookPayload,
  status: 'firing' | 'resolved',
  narration: Narration = NARRATION,
  now = NOW,
): AnnotationRecord[] {
  return p.alerts
    .filter((a) => a.status === status)
    .map((alert) =>
      status === 'firing'
        ? buildRecord({
            alert,
            groupKey: p.groupKey,
            analysis: ANALYSIS,
            narration,
            traceId: TRACE_ID,
            now,
            verdict: verdictOf(severityOf(alert.labels), ANALYSIS),
          })
        : buildResolvedRecord({ alert, groupKey: p.groupKey, traceId: TRACE_ID, now }),
    );
}

export function eventFor(p: WebhookPayload, kind: PublishEvent['kind'] = 'initial', narration: Narration = NARRATION): PublishEvent {
  return { kind, payload: eventPayload(p), records: recordsFor(p, kind === 'resolve' ? 'resolved' : 'firing', narration) };
}

/** A bot-mode Slack publisher's options against the fake Slack at `slackUrl`. */
export function botOptions(slackUrl: string, overrides: Partial<SlackBotOptions> = {}): SlackBotOptions {
  return {
    token: FAKE_SLACK_TOKEN,
    channel: '#alerts',
    apiUrl: `${slackUrl}/api`,
    minSeverity: 'info',
    serviceLabels: DEFAULT_SERVICE_LABELS,
    now: () => NOW,
    timeoutMs: 2000,
    ...overrides,
  };
}
