import type { Logger } from 'pino';
import { analyze, type AnalyzeOptions } from './analyze';
import type { Analysis } from './model/analysis';
import { OutboundError } from './clients/http';
import type { Dedup } from './dedup';
import { gather } from './gather';
import { alertWindows } from './model/window';
import type { EvidenceBundle } from './model/evidence';
import type { Source } from './gather/source';
import type { Metrics } from './metrics';
import { templateNarration } from './narrate/template';
import type { LlmUsage, Narration, NarrationInput, Narrator, StoredNarration } from './model/narration';
import { NarrationError, type NarrationFailure } from './narrate/errors';
import type { PublishEvent, Publisher } from './publish/types';
import type { Alert, WebhookPayload } from './model/alert';
import { buildRecord, buildResolvedRecord, severityOf, type AnnotationRecord } from './model/record';
import { verdictOf } from './publish/verdict';
import { renderChart, type ChartResult } from './publish/chart';
import type { ChartUploadOutcome, SlackChartUploader } from './publish/slack-upload';
import { createScrubber } from './scrub';
import { currentTraceId, withSpan } from './spans';

export interface PipelineDeps {
  sources: Source[];
  /** The model narrator; absent when LLM_PROVIDER=none (the deterministic note only). */
  narrator?: Narrator;
  publishers: Publisher[];
  dedup: Dedup;
  log: Logger;
  /** SERVICE_LABELS and the windows, from the configuration. */
  analyzeOptions?: AnalyzeOptions;
  metrics?: Metrics;
  now?: () => Date;
  /** The chart into the Slack message's thread (SLACK_CHART, bot mode), after the first note is out. */
  chart?: Pick<SlackChartUploader, 'uploadOnce'>;
  /** The route (ROUTES_FILE) and tenant this part of a notification runs under; stamped on its records. */
  route?: { name: string; tenant?: string; links?: { title: string; url: string }[] };
}

export interface GroupOutcome {
  annotated: number;
  skipped: number;
  records: AnnotationRecord[];
  /**
   * Set when a model narrator is configured and new firing alerts went out with the
   * deterministic note: what the narration job needs (already scrubbed). The model is never
   * asked while the first note is being published, so a slow or hanging model cannot hold it up.
   */
  renarration?: RenarrationData;
  /** What became of the chart for the Slack thread, when one was due. */
  chart?: ChartUploadOutcome;
}

/** Everything a later narration needs, scrubbed, so no raw evidence sits in job data. */
export interface RenarrationData {
  input: NarrationInput;
  records: AnnotationRecord[];
  event: Omit<PublishEvent, 'records' | 'kind'>;
}

/**
 * Loki refused the record for good (a 4xx): the alert has no durable record and a retry
 * cannot give it one. The job ends at once, as a dead letter with this reason.
 */
export class PermanentPublishError extends Error {
  constructor(cause: Error) {
    super(`the durable record was refused: ${cause.message}`, { cause });
    this.name = 'PermanentPublishError';
  }
}

/**
 * Where the narration job keeps the model's answer between its attempts (the job's own
 * data): a retry of the publishing reads it back instead of asking the model again.
 */
export interface NarrationStore {
  load(): StoredNarration | undefined;
  save(narration: StoredNarration): Promise<void>;
}

/** Alerts still being annotated by another worker: retry later, do not annotate twice. */
export class BusyError extends Error {
  constructor(readonly count: number) {
    super(`${count} alert(s) are being annotated by another worker`);
    this.name = 'BusyError';
  }
}

type EventPayload = PublishEvent['payload'];

function eventPayload(p: WebhookPayload): EventPayload {
  return {
    groupKey: p.groupKey,
    status: p.status,
    receiver: p.receiver,
    groupLabels: p.groupLabels,
    commonLabels: p.commonLabels,
    commonAnnotations: p.commonAnnotations,
    externalURL: p.externalURL,
    truncatedAlerts: p.truncatedAlerts,
  };
}

/**
 * The story of one group notification:
 * dedup → gather → analyze → scrub → publish the deterministic note; the model narrates
 * later, in the narration job (renarrateGroup).
 */
export async function annotateGroup(
  payload: WebhookPayload,
  deps: PipelineDeps,
  signal: AbortSignal,
  opts: {
    owner?: string;
    bundle?: EvidenceBundle;
    onEvidence?: (b: EvidenceBundle) => void;
    /**
     * Hands the narration job over before the claims complete, so a crash in between makes
     * the retry hand it over again (the worker's job id makes that a no-op) instead of losing it.
     */
    queueNarration?: (data: RenarrationData) => Promise<void>;
    /**
     * Puts the narration job on hold before the first note is published: if the process or
     * Redis dies after Loki took the record and before `queueNarration`, the held job still
     * runs (its retry finds the alerts done in Loki and would queue nothing), and a retry
     * that finds only some of the alerts in Loki keeps the narration of them all.
     */
    holdNarration?: (data: RenarrationData) => Promise<void>;
  } = {},
): Promise<GroupOutcome> {
  const owner = opts.owner ?? `pid-${process.pid}-${Date.now()}`;
  const now = deps.now?.() ?? new Date();
  const claim = await withSpan('dedup', { 'alert.count': payload.alerts.length }, () => deps.dedup.claim(payload.alerts, owner, signal));
  const outcome: GroupOutcome = { annotated: 0, skipped: claim.done.length, records: [] };
  const fresh = claim.fresh;
  const stopRenewal = deps.dedup.keepAlive?.(fresh, owner);
  // The chart's upload runs beside the rest of the job; it never throws.
  let chart: Promise<ChartUploadOutcome> | undefined;
  try {
    const firing = fresh.filter((a) => a.status === 'firing');
    const resolved = fresh.filter((a) => a.status === 'resolved');
    const traceId = currentTraceId();

    if (firing.length > 0) {
      const done = await annotateFiring(payload, firing, deps, signal, { ...opts, now, traceId, kind: 'initial' });
      outcome.records.push(...done.records);
      if (done.renarration) outcome.renarration = done.renarration;
      chart = done.chart;
    }
    if (resolved.length > 0) {
      const records = resolved.map((alert) => buildResolvedRecord({ alert, groupKey: payload.groupKey, traceId, now }));
      await publish(deps, { payload: eventPayload(payload), kind: 'resolve', records }, signal);
      outcome.records.push(...records);
    }
    throwIfAborted(signal);
    if (outcome.renarration) await opts.queueNarration?.(outcome.renarration);
    await deps.dedup.complete(fresh, owner);
    outcome.annotated = fresh.length;
    if (chart) outcome.chart = await chart;
    for (const r of outcome.records) {
      deps.log.info({ fingerprint: r.fingerprint, status: r.status, narrator: r.narrator, suspects: r.suspects.length }, 'alert annotated');
    }
  } catch (err) {
    await deps.dedup.release(fresh, owner).catch(() => undefined);
    throw err;
  } finally {
    stopRenewal?.();
  }
  // The fresh alerts are done; the busy ones get another look on the job's retry.
  if (claim.busy.length > 0) throw new BusyError(claim.busy.length);
  return outcome;
}

/**
 * gather → analyze → scrub → publish for the firing alerts of a group. The first note is
 * the deterministic one (the model follows in the narration job); a re-analysis asked for
 * from Slack (`narrateNow`) asks the model at once.
 */
async function annotateFiring(
  payload: WebhookPayload,
  firing: Alert[],
  deps: PipelineDeps,
  signal: AbortSignal,
  opts: {
    bundle?: EvidenceBundle;
    onEvidence?: (b: EvidenceBundle) => void;
    now: Date;
    traceId: string;
    kind: PublishEvent['kind'];
    nonce?: string;
    narrateNow?: boolean;
    holdNarration?: (data: RenarrationData) => Promise<void>;
  },
): Promise<Pick<GroupOutcome, 'records' | 'renarration'> & { chart?: Promise<ChartUploadOutcome> }> {
  const { now, traceId } = opts;
  const bundle =
    opts.bundle ??
    (await gather(
      deps.sources,
      { payload, alerts: firing, now, windows: alertWindows(firing, now, deps.analyzeOptions), log: deps.log },
      signal,
    ));
  opts.onEvidence?.(bundle);
  const analysis = await withSpan('analyze', {}, async () => analyze(bundle, deps.analyzeOptions));
  const input = await withSpan('scrub', {}, async () => scrubInput(payload, firing, analysis));
  const narration = opts.narrateNow ? (await narrate(deps, input, signal)).narration : templateNarration(input);
  const records = firing.map((alert) =>
    buildRecord({
      alert,
      groupKey: payload.groupKey,
      analysis: input.analysis,
      narration,
      traceId,
      now,
      verdict: verdictOf(severityOf(alert.labels), input.analysis),
    }),
  );
  const event = { payload: eventPayload(payload) };
  const narrateLater = !opts.narrateNow && deps.narrator !== undefined;
  // Queued (serialized into Redis) before the publish: the held job has the records as built.
  if (narrateLater) await opts.holdNarration?.({ input, records, event });
  await publish(deps, { ...event, kind: opts.kind, records, ...(opts.nonce ? { nonce: opts.nonce } : {}) }, signal);
  // The first note is out (message and record): now the chart into its thread, once per group.
  const chart = opts.kind === 'initial' ? uploadChart(deps, payload, records, bundle, analysis, signal) : undefined;
  const result = narrateLater ? { records, renarration: { input, records, event } } : { records };
  return chart ? { ...result, chart } : result;
}

/** Starts the chart's upload when the group has a bot-mode Slack message; never rejects. */
function uploadChart(
  deps: PipelineDeps,
  payload: WebhookPayload,
  records: AnnotationRecord[],
  bundle: EvidenceBundle,
  analysis: Analysis,
  signal: AbortSignal,
): Promise<ChartUploadOutcome> | undefined {
  const message = records.find((r) => r.slackTs && r.slackChannel);
  if (!deps.chart || !message?.slackTs || !message.slackChannel) return undefined;
  return deps.chart
    .uploadOnce(
      {
        groupKey: payload.groupKey,
        channel: message.slackChannel,
        threadTs: message.slackTs,
        chart: async () => {
          const drawn = await chartOf(bundle, analysis, deps.analyzeOptions);
          if ('reason' in drawn) return drawn;
          const { plan } = drawn;
          return {
            png: drawn.png,
            filename: 'alert-chart.png',
            title: plan.alert.title,
            altText: `${plan.alert.title}, over the baseline and incident windows${plan.suspect ? `; below: ${plan.suspect.title}` : ''}`,
          };
        },
      },
      signal,
    )
    .catch(() => 'failed' as const);
}

/**
 * A fresh gather and analysis of a group's firing alerts, asked for from Slack: no dedup
 * (the alerts are annotated already), published as an update of the group's message. A
 * failed narration leaves the deterministic note; no follow-up is planned for it.
 */
export async function reanalyzeGroup(
  payload: WebhookPayload,
  deps: PipelineDeps,
  signal: AbortSignal,
  nonce: string,
): Promise<AnnotationRecord[]> {
  const firing = payload.alerts.filter((a) => a.status === 'firing');
  if (firing.length === 0) return [];
  const now = deps.now?.() ?? new Date();
  const done = await annotateFiring(payload, firing, deps, signal, {
    now,
    traceId: currentTraceId(),
    kind: 'narration',
    nonce,
    narrateNow: true,
  });
  return done.records;
}

/**
 * The narration job: asks the model once (its answer is kept in `store`, scrubbed, before
 * anything is published) and publishes the improved record for the same alerts. A retry
 * after a failed publish reuses the kept answer. Throws NarrationPendingError when the model failed.
 */
export async function renarrateGroup(
  data: RenarrationData,
  deps: PipelineDeps,
  signal: AbortSignal,
  store?: NarrationStore,
): Promise<AnnotationRecord[]> {
  const now = deps.now?.() ?? new Date();
  let n = store?.load();
  if (!n) {
    const result = await narrate(deps, data.input, signal);
    if (result.failed) throw new NarrationPendingError(result.retryAfterMs, result.askAgain ?? false, result.reason);
    n = { ...createScrubber().scrubValue(result.narration), narratedAt: now.toISOString(), traceId: currentTraceId() };
    await store?.save(n);
  }
  const records = data.records.map((r) => ({
    ...r,
    summary: n.summary,
    rootCause: n.rootCause,
    actions: n.actions,
    confidence: n.confidence,
    evidence: n.evidence,
    narrator: n.narrator,
    promptVersion: n.promptVersion,
    ...(n.llm ? { llm: addUsage(r.llm, n.llm) } : {}),
    // The attempt that got the answer names the record, so a retry pushes the very same line.
    traceId: n.traceId || currentTraceId() || r.traceId,
    annotatedAt: n.narratedAt ?? now.toISOString(),
  }));
  await publish(deps, { ...data.event, kind: 'narration', records }, signal);
  throwIfAborted(signal);
  return records;
}

/**
 * An aborted job (the shutdown deadline) may have published only part of its work, and its
 * failed calls look permanent: it must not count as done, so its retry finishes the work.
 */
function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new Error('the job was aborted before it finished; it will be retried');
}

/**
 * The chart of a group's firing alerts (publish/chart.ts) as Slack would get it: every text it
 * writes into the picture goes through the scrubber, as the card's text does. Never throws.
 */
export function chartOf(bundle: EvidenceBundle, analysis: Analysis, windows?: AnalyzeOptions): Promise<ChartResult> {
  const scrubber = createScrubber();
  return renderChart(bundle, analysis, { ...(windows ? { windows } : {}), text: (s) => scrubber.scrub(s) });
}

/** The narrator's input: the group's context, its firing alerts and the analysis, scrubbed in one session. */
export function scrubInput(payload: WebhookPayload, alerts: Alert[], analysis: Analysis): NarrationInput {
  const scrubber = createScrubber();
  return {
    payload: scrubber.scrubValue({
      groupKey: payload.groupKey,
      status: payload.status,
      commonLabels: payload.commonLabels,
      commonAnnotations: payload.commonAnnotations,
      groupLabels: payload.groupLabels,
    }),
    alerts: scrubber.scrubValue(alerts),
    analysis: scrubber.scrubValue(analysis),
  };
}

/** The model's answer, or the deterministic note when it failed. */
interface NarrateResult {
  narration: Narration;
  failed: boolean;
  /** How long the model asked us to wait (Retry-After, or an open breaker's cool-down). */
  retryAfterMs?: number;
  /** The request never reached the model (no slot, an open breaker, a refused connection, a 429): worth asking again. */
  askAgain?: boolean;
  /** Why it failed. */
  reason?: NarrationFailure;
}

/**
 * The model failed. `askAgain` says whether the request never reached the model (then the
 * narration waits and asks again), or it did (a timeout, a rejected answer: the model is not
 * asked again for this group and the deterministic note stands).
 */
export class NarrationPendingError extends Error {
  constructor(
    readonly retryAfterMs?: number,
    readonly askAgain = false,
    readonly reason?: NarrationFailure,
  ) {
    super(`narration failed${reason ? ` (${reason})` : ''}`);
    this.name = 'NarrationPendingError';
  }
}

async function narrate(deps: PipelineDeps, input: NarrationInput, signal: AbortSignal): Promise<NarrateResult> {
  if (!deps.narrator) return { narration: templateNarration(input), failed: false };
  const started = performance.now();
  try {
    const narration = await deps.narrator.narrate(input, signal);
    deps.metrics?.llmDuration.observe({ outcome: 'ok' }, (performance.now() - started) / 1000);
    countUsage(deps, narration.llm);
    return { narration, failed: false };
  } catch (err) {
    if (signal.aborted) throw err;
    // Not the model's failure but ours, before any call (the gate's Redis is down): the job
    // fails and its retry asks again; the model never had the request.
    if (!(err instanceof NarrationError)) throw err;
    const llm = err.llm;
    countUsage(deps, llm);
    const fallback = { ...templateNarration(input), ...(llm ? { llm } : {}) };
    // Past LLM_MAX_CALLS_PER_HOUR the deterministic note is the answer: no follow-up spends more calls.
    if (err instanceof NarrationError && err.reason === 'capped') {
      deps.metrics?.llmCalls.inc({ outcome: 'capped' });
      deps.log.warn({ narrator: deps.narrator.name }, 'model call cap reached; publishing the deterministic note');
      return { narration: fallback, failed: false };
    }
    deps.metrics?.llmDuration.observe({ outcome: 'failed' }, (performance.now() - started) / 1000);
    deps.log.warn({ err: (err as Error).message, narrator: deps.narrator.name }, 'narration failed; the deterministic note stands');
    const retryAfterMs = (err as { retryAfterMs?: unknown }).retryAfterMs;
    const askAgain = !err.reachedModel;
    const reason = err.reason;
    return { narration: fallback, failed: true, askAgain, reason, ...(typeof retryAfterMs === 'number' ? { retryAfterMs } : {}) };
  }
}

/** The calls of the first try and of the follow-up: the note cost both. */
function addUsage(a: LlmUsage | undefined, b: LlmUsage): LlmUsage {
  if (!a) return b;
  return {
    calls: a.calls + b.calls,
    promptTokens: a.promptTokens + b.promptTokens,
    completionTokens: a.completionTokens + b.completionTokens,
    ms: a.ms + b.ms,
  };
}

/** Model calls and tokens into the counters (the record and the llm.call span carry them too). */
function countUsage(deps: PipelineDeps, llm: LlmUsage | undefined): void {
  if (!llm || !deps.metrics) return;
  if (llm.calls) deps.metrics.llmCalls.inc({ outcome: 'called' }, llm.calls);
  if (llm.promptTokens) deps.metrics.llmTokens.inc({ kind: 'prompt' }, llm.promptTokens);
  if (llm.completionTokens) deps.metrics.llmTokens.inc({ kind: 'completion' }, llm.completionTokens);
}

/**
 * Slack and PagerDuty first (in parallel), then Loki last: the Loki record is the durable
 * proof of annotation and carries the Slack message ts. A retryable failure fails the job
 * (publishers are idempotent); a permanent one of a notifier is logged and the others go on;
 * a permanent one of Loki ends the job (PermanentPublishError): without the record the
 * alert must not count as done.
 */
async function publish(deps: PipelineDeps, event: PublishEvent, signal: AbortSignal): Promise<void> {
  if (deps.route) {
    const { name, tenant, links } = deps.route;
    for (const r of event.records) Object.assign(r, { route: name }, tenant ? { tenant } : {}, links?.length ? { links } : {});
  }
  const notifiers = deps.publishers.filter((p) => p.name !== 'loki');
  const loki = deps.publishers.filter((p) => p.name === 'loki');
  const retryable: Error[] = [];
  const run = async (p: Publisher, ev: PublishEvent, permanent?: Error[]) => {
    try {
      return await withSpan(`publish.${p.name}`, { 'publish.kind': ev.kind, 'publish.records': ev.records.length }, () =>
        p.publish(ev, signal),
      );
    } catch (err) {
      const reason = err instanceof OutboundError ? err.reason : 'error';
      deps.metrics?.publishFailures.inc({ target: p.name, reason, route: deps.route?.name ?? 'default' });
      // Our own abort (the shutdown deadline) is no verdict on the target: the job is retried.
      const retry = signal.aborted || reason === 'aborted' || !(err instanceof OutboundError) || err.retryable;
      deps.log[retry ? 'warn' : 'error'](
        { target: p.name, reason, err: (err as Error).message },
        retry ? 'publish failed; will retry' : 'publish failed permanently',
      );
      if (retry) retryable.push(err as Error);
      else permanent?.push(err as Error);
      return undefined;
    }
  };
  const results = await Promise.all(notifiers.map((p) => run(p, event)));
  const slack = results.find((r) => r?.slackTs);
  if (slack?.slackTs)
    for (const r of event.records) {
      r.slackTs ??= slack.slackTs;
      if (slack.slackChannel) r.slackChannel ??= slack.slackChannel;
    }
  // Without Loki's record a retry could not tell the alert was done; so if a notifier must
  // be retried, hold the record back until it has gone out.
  const permanent: Error[] = [];
  if (retryable.length === 0) for (const p of loki) await run(p, event, permanent);
  if (retryable.length > 0) throw retryable[0]!;
  if (permanent.length > 0) throw new PermanentPublishError(permanent[0]!);
}
