import type { EvidenceBundle } from '../model/evidence';
import { alertWindows, type WindowOptions } from '../model/window';
import { baselineOf, robustZ } from './stats';
import type { Series } from '../model/evidence';
import type { DrainOptions } from './drain';
import { logFindingIds, logFindings, metricFindings, relatedTraceIds, sourceFindings, traceFindings } from './findings';
import { minePatterns } from './logs';
import { coverageFindings, baselineCoveredS, isBaselineShort, measureCoverage, type Coverage } from './coverage';
import { scoreAllSeries, stepOf, type UnscoredAlertSeries } from './metrics';
import { confidenceOf, rankSuspects, type Corroboration } from './rank';
import { contextEvidence } from './context';
import { DEFAULT_SERVICE_LABELS, serviceOfLabels } from './service';
import { summariseTraces } from './traces';
import { isBareAddress } from '../model/otlp';
import type { Analysis, Finding } from '../model/analysis';

export { MIN_SUSPECT_SCORE, STRONG_SUSPECT_SCORE, type Corroboration } from './rank';

export interface AnalyzeOptions extends WindowOptions {
  /** Labels that name a service, in order (SERVICE_LABELS). */
  serviceLabels?: readonly string[];
  drain?: DrainOptions;
  /** Evidence from outside the telemetry (change events, other alerts, history) that can raise a suspect. */
  corroborations?: readonly Corroboration[];
}

const MAX_UNRELATED = 4;

/** Evidence → findings. Pure: the same bundle and options always give the same analysis. */
export function analyze(bundle: EvidenceBundle, opts: AnalyzeOptions = {}): Analysis {
  const serviceLabels = opts.serviceLabels?.length ? opts.serviceLabels : DEFAULT_SERVICE_LABELS;
  const now = new Date(bundle.now);
  // The windows the sources queried, when the bundle says; otherwise the same rule they use.
  const w = alertWindows(bundle.payload.alerts, now, opts);
  const nominalIncS = (bundle.windows ? Date.parse(bundle.windows.incidentStart) : w.incidentStart.getTime()) / 1000;
  const baseS = (bundle.windows ? Date.parse(bundle.windows.baselineStart) : w.baselineStart.getTime()) / 1000;
  // The incident begins where the alert's own series left its baseline, when that was before the
  // nominal window (a rule with a long `for:`, a slow rise): otherwise the fault's first minutes
  // sit in the baseline and hide it.
  const incS = Math.min(nominalIncS, ...bundle.series.filter((s) => s.query !== null).map((s) => onsetBefore(s, baseS, nominalIncS)));
  // Not `now`: the sources stop at most an hour after startsAt, and rates averaged up to a
  // late `now` would dilute a surge over days of time no series covers.
  const endS = (bundle.windows?.end ? Date.parse(bundle.windows.end) : w.end.getTime()) / 1000;

  const anchorS = w.anchor.getTime() / 1000;
  const coverage = measureCoverage(bundle, baseS, incS, serviceLabels);
  const unscored: UnscoredAlertSeries[] = [];
  const stepS = stepOf(bundle.series);
  const scored = scoreAllSeries(bundle.series, incS, endS, serviceLabels, {
    stepS,
    anchorS,
    baselineStartS: baseS,
    minBaselineS: coverage.minBaselineS,
    unscored,
  });
  const cut = {
    ...(bundle.windows?.logsBaselineFrom ? { baselineFromS: Math.floor(Date.parse(bundle.windows.logsBaselineFrom) / 1000) } : {}),
    ...(bundle.windows?.logsIncidentFrom ? { incidentFromS: Math.floor(Date.parse(bundle.windows.logsIncidentFrom) / 1000) } : {}),
  };
  const patterns = minePatterns(bundle.logs, incS, endS, baseS, serviceLabels, opts.drain, cut, coverage);
  const traces = summariseTraces(bundle.traces, scrapedAt(bundle.series, serviceLabels));
  const alerting = new Set(
    bundle.payload.alerts
      .filter((a) => a.status === 'firing')
      .map((a) => serviceOfLabels(a.labels, serviceLabels))
      .filter((s): s is string => !!s),
  );

  // Changes, other alerts and history about the services this evidence reaches (context.ts):
  // findings of their own, and corroborations that raise the suspect they name.
  const connected = new Set<string>([
    ...alerting,
    ...scored.map((s) => s.service).filter((s): s is string => !!s),
    ...patterns.map((p) => p.service),
    ...traces.tracesOf.keys(),
    ...traces.selfMs.keys(),
  ]);
  const context = contextEvidence(bundle, connected, anchorS, baseS, now);
  const prefix = { change: 'D', alert: 'F', history: 'H' } as Record<string, string>;
  const contextFindings = context.findings.map((f, i, all) => ({
    ...f,
    id: `${prefix[f.kind] ?? 'X'}${all.slice(0, i + 1).filter((g) => g.kind === f.kind).length}`,
  }));
  const corroborations = [...context.corroborations, ...(opts.corroborations ?? [])];
  const ranking = rankSuspects({
    scored,
    patterns,
    traces,
    alerting,
    incidentStartS: incS,
    anchorS,
    stepS,
    now,
    logIds: logFindingIds(patterns),
    corroborations,
    sharesLabels: sharingLabels(bundle, serviceLabels),
  });
  const suspects = ranking.suspects;
  const confidence = lowerForCoverage(confidenceOf(ranking), coverage, alerting);
  const findings: Finding[] = [
    ...contextFindings.filter((f) => f.kind === 'change'),
    ...metricFindings(
      scored,
      now,
      suspects.map((x) => x.service),
      unscored,
    ),
    ...logFindings(patterns, bundle.logs.length > 0, now),
    ...traceFindings(traces, alerting),
    ...sourceFindings(bundle),
    ...coverageFindings(coverage, alerting, now).map((f, i) => ({ ...f, id: `C${i + 1}` })),
    ...ranking.unrelated.slice(0, MAX_UNRELATED).map((f, i) => ({ ...f, id: `U${i + 1}` })),
    ...contextFindings.filter((f) => f.kind !== 'change'),
  ];
  // Every suspect is backed by a finding about it (a narrator may name only those).
  let extra = 0;
  for (const x of suspects) {
    if (findings.some((f) => f.service === x.service)) continue;
    findings.push({ id: `T${90 + ++extra}`, kind: 'trace', service: x.service, text: `${x.service}: ${x.indicator}` });
  }
  if (!ranking.pathAnomalous)
    findings.push({
      id: 'A1',
      kind: 'alert',
      text:
        ranking.alertQuietZ !== undefined
          ? `no cause determined: the alert's own series stays within its baseline range (z=${ranking.alertQuietZ.toFixed(1)} at most in the incident window), so nothing else that moved explains it`
          : "no cause determined: nothing on the alert's call path is anomalous beyond the alert itself",
    });
  // The evidence for the top suspect reads first (a narrator, or a reader, takes the head of
  // the list); ids keep their order within each kind.
  const top = suspects[0]?.service;
  const ordered = top ? [...findings.filter((f) => f.service === top), ...findings.filter((f) => f.service !== top)] : findings;
  return {
    findings: ordered,
    suspects: suspects.map(({ service, indicator, score, signals }) => ({ service, indicator, score, signals })),
    relatedTraceIds: relatedTraceIds(bundle, incS, traces),
    confidence,
    services: [
      ...new Set([
        ...alerting,
        ...scored.map((s) => s.service),
        ...patterns.map((p) => p.service),
        ...traces.tracesOf.keys(),
        ...traces.selfMs.keys(),
      ]),
    ]
      .filter((s): s is string => !!s && s !== 'unknown')
      .sort(),
  };
}

/**
 * A scraped target's instance label ("127.0.0.1:8081") is where its service listens: a client
 * span to that socket whose call was refused is a call to that service. Only bare addresses,
 * and only one service per address.
 */
function scrapedAt(series: readonly Series[], serviceLabels: readonly string[]): Map<string, string> {
  const out = new Map<string, string | null>();
  for (const s of series) {
    const instance = s.labels.instance;
    const service = serviceOfLabels(s.labels, serviceLabels);
    if (!instance || !service || service === instance || !/:\d{1,5}$/.test(instance) || !isBareAddress(instance)) continue;
    const cur = out.get(instance);
    out.set(instance, cur === undefined || cur === service ? service : null);
  }
  return new Map([...out].filter((e): e is [string, string] => e[1] !== null));
}

/** A short baseline for an alerting service lowers confidence one level; none at all makes it low. */
function lowerForCoverage(c: Analysis['confidence'], coverage: Coverage, alerting: ReadonlySet<string>): Analysis['confidence'] {
  const short = [...alerting].filter((s) => isBaselineShort(coverage, s));
  if (short.length === 0) return c;
  if (short.some((s) => baselineCoveredS(coverage, s) <= 0)) return 'low';
  return c === 'high' ? 'medium' : 'low';
}

/** Labels that name one instance, not a relationship: sharing them says nothing. */
const IDENTITY_LABELS = new Set(['alertname', 'severity', 'pod', 'instance', 'container', 'node', 'host', 'le', '__name__', 'quantile']);

/**
 * The components related to the alert by its labels (without a trace graph, the only sign of a
 * path): those with a series or log stream carrying one of the alert's own label values under
 * the same name (namespace="shop", app="checkout"), identity labels aside.
 */
function sharingLabels(bundle: EvidenceBundle, serviceLabels: readonly string[]): Set<string> {
  const wanted = new Set<string>();
  for (const a of bundle.payload.alerts)
    if (a.status === 'firing') for (const [k, v] of Object.entries(a.labels)) if (!IDENTITY_LABELS.has(k)) wanted.add(`${k}=${v}`);
  const out = new Set<string>();
  for (const labels of [...bundle.series.map((s) => s.labels), ...bundle.logs.map((l) => l.labels)]) {
    const service = serviceOfLabels(labels, serviceLabels);
    if (!service || out.has(service)) continue;
    if (Object.entries(labels).some(([k, v]) => wanted.has(`${k}=${v}`))) out.add(service);
  }
  return out;
}

/** At most this much earlier than the nominal incident window. */
const MAX_EARLY_ONSET_S = 15 * 60;

/**
 * Where a sustained shift of `s` began inside the baseline's last MAX_EARLY_ONSET_S, judged
 * against the baseline before it: the first of an unbroken run of shifted points (robust z of 3
 * or more, the way the incident went) reaching the window, at least three long. `incS` when none.
 */
function onsetBefore(s: Series, baseS: number, incS: number): number {
  const pts = s.values.map(([t, v]) => [t, Number(v)] as const).filter(([t, v]) => Number.isFinite(v) && t >= baseS);
  const base = pts.filter(([t]) => t < incS);
  const inc = pts.filter(([t]) => t >= incS);
  // Judged against the baseline's first half at least (its part a recent shift cannot reach).
  const refEnd = Math.max(baseS + (incS - baseS) / 2, incS - MAX_EARLY_ONSET_S);
  const ref = base.filter(([t]) => t < refEnd);
  if (ref.length < 6 || inc.length === 0 || base.length - ref.length < 3) return incS;
  const b = baselineOf(ref.map(([, v]) => v));
  const incMedian = Float64Array.from(inc.map(([, v]) => v)).sort()[Math.floor(inc.length / 2)]!;
  const sign = incMedian >= b.median ? 1 : -1;
  const shifted = (v: number) => sign * (v - b.median) > 0 && robustZ(v, b) >= 3;
  if (!shifted(incMedian)) return incS;
  let j = base.length;
  while (j > 0 && shifted(base[j - 1]![1]) && base[j - 1]![0] >= refEnd) j--;
  return base.length - j >= 3 ? base[j]![0] : incS;
}
