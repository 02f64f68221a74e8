import { formatClock, formatPercent } from './format';
import type { LogPattern } from './logs';
import { METRIC_MIN_Z, type ScoredSeries } from './metrics';
import { robustZ } from './stats';
import { pathOf, type CausalPath } from './graph';
import type { TraceSummary } from './traces';
import type { Analysis, Finding, SignalKind, Suspect } from '../model/analysis';

/**
 * Ranking suspects (pure), issue 12 items 2 and 6:
 * 1. each component's own evidence (its series, new or surging log templates, errors that
 *    start in its spans, and any corroboration from outside the telemetry: a change, another
 *    alert, the alert's history);
 * 2. the causal path: only components the alerting service reaches through the service graph
 *    (or, without a graph, every component) can be suspects; an anomaly off the path, or one
 *    that began long before the incident window, becomes an "unrelated" finding instead;
 * 3. symptoms (latency, errors, traffic) move down the path to the components that own the
 *    time and the errors (trace blame), or, without traces, to the ones their error logs name,
 *    so the deepest anomalous component ranks first; ties go to the deeper one;
 * 4. a confidence that is high only with two independent kinds of evidence on the path, and
 *    low when nothing on the path is anomalous beyond the alert itself.
 */

/** Below this a suspect is not worth naming; the no-fault controls stay under it. */
export const MIN_SUSPECT_SCORE = 1;
/** A top suspect under this is not a strong suspect: confidence stays low. */
export const STRONG_SUSPECT_SCORE = 2.5;
const MAX_SUSPECTS = 5;
/** Trace evidence alone fills the list up to this many (AC@3: the cause among the first three). */
const MIN_LISTED = 3;
/** A component owning less of the alert's trace time and errors than this is no lead. */
const MIN_LEAD_SHARE = 0.1;
/** An anomaly that began this long before the incident window is not its cause. */
const LONG_BEFORE_S = 15 * 60;

/** log2(z / 1.5): 1 at z=3, 3 at z=12, 6 at z=96; a large z from a tiny IQR cannot swamp the rest. */
function metricStrength(z: number): number {
  return z < METRIC_MIN_Z ? 0 : Math.log2(z / 1.5);
}

/**
 * Evidence from outside the telemetry that points at a component (the hook for change events,
 * other firing alerts and the alert's history): each counts as one more independent signal.
 */
export interface Corroboration {
  service: string;
  kind: Extract<SignalKind, 'change' | 'firing' | 'history'>;
  /** Score added; about 2 for a deploy minutes before the onset, 1 for a recurring cause. */
  value: number;
  indicator: string;
}

interface Contribution {
  kind: SignalKind;
  value: number;
  indicator: string;
  /** Latency/error/traffic evidence: handed down the path when something below explains it. */
  symptom: boolean;
  /** How many series, patterns or facts it sums. */
  count: number;
  /** Resources that only fell (memory freed by a restart, less CPU): not a sign of a fault by themselves. */
  down?: boolean;
}

/**
 * A log line about a call that failed ("call to X failed: …", "upstream returned 5xx"), or that
 * was slow when it names what it called ("X slow: 900ms"): a symptom of what was called, not of
 * the service's own work. A slow line naming nothing ("batch step slow") is the service's own.
 */
const FAILED_CALL =
  /timeout|timed out|deadline|upstream|downstream|refused|reset by peer|unavailable|unreachable|circuit|broken pipe|\b5\d\d\b|failed after|\bcall(?:ing)? to\b/i;
const SLOW_CALL = /\bslow(?:ly)?\b/i;
const aboutCall = (template: string): boolean => FAILED_CALL.test(template) || SLOW_CALL.test(template);

/** What a resource that only fell counts for, of its score. */
const DOWN_WEIGHT = 0.3;
const TRAFFIC = /request.?rate|requests?_total|\brps\b|\bqps\b|throughput/i;
const CPU = /cpu/i;

/** How many times its request rate grew (peak over baseline median), when it grew. */
function loadGrowth(series: readonly ScoredSeries[]): number | undefined {
  const traffic = series.filter((s) => TRAFFIC.test(s.what) && !/error|fail/i.test(s.what) && s.score.direction === 'up');
  const ratios = traffic.map((s) => s.score.peak / s.score.baseline.median).filter((r) => Number.isFinite(r) && r > 1);
  return ratios.length ? Math.max(...ratios) : undefined;
}

function explainedByLoad(s: ScoredSeries, load: number): boolean {
  if (!CPU.test(s.what) || s.score.direction !== 'up' || !(s.score.baseline.median > 0)) return false;
  return s.score.peak / s.score.baseline.median <= 1.3 * load;
}

function diminishing(values: number[]): number {
  return values
    .sort((a, b) => b - a)
    .slice(0, 3)
    .reduce((s, v, i) => s + v / 2 ** i, 0);
}

export interface RankedSuspect extends Suspect {
  kinds: Set<SignalKind>;
  signals: NonNullable<Suspect['signals']>;
  onPath: boolean;
  /** Without a trace graph, shares none of the alert's labels. */
  stranger?: boolean;
}

export interface Ranking {
  suspects: RankedSuspect[];
  /** Anomalies set aside: off the causal path, or begun long before the incident. */
  unrelated: Omit<Finding, 'id'>[];
  /** Something on the path other than the alert's own expression is anomalous (and that expression is). */
  pathAnomalous: boolean;
  /** Set when the alert's own series stays within its baseline range: its largest score. */
  alertQuietZ?: number;
  path: CausalPath;
}

export interface RankInput {
  scored: ScoredSeries[];
  patterns: LogPattern[];
  traces: TraceSummary;
  alerting: ReadonlySet<string>;
  incidentStartS: number;
  /** startsAt (unix s): a change that began after it did not cause it. */
  anchorS?: number;
  /** The query step of the series (unix s between samples). */
  stepS?: number;
  now: Date;
  corroborations?: readonly Corroboration[];
  /** Components whose series or log streams share a label value with a firing alert (namespace, app, job…). */
  sharesLabels?: ReadonlySet<string>;
  /** The finding id of each quoted pattern (logFindingIds): the indicator cites it, never its text. */
  logIds?: ReadonlyMap<LogPattern, string>;
}

function zText(z: number): string {
  return z >= 10 ? String(Math.round(z)) : z.toFixed(1);
}

export function rankSuspects(input: RankInput): Ranking {
  const { scored, patterns, traces, alerting, incidentStartS, now } = input;
  const contrib = new Map<string, Contribution[]>();
  const add = (service: string, c: Contribution): void => {
    if (c.value <= 0) return;
    let list = contrib.get(service);
    if (!list) contrib.set(service, (list = []));
    list.push(c);
  };
  const unrelated: Omit<Finding, 'id'>[] = [];
  const early = new Map<string, ScoredSeries>();

  // 1. Own evidence. Series are split into symptoms and causes; a series whose shift began
  //    long before the incident window is set aside.
  const metricBy = new Map<string, { v: number; s: ScoredSeries }[]>();
  for (const s of scored) {
    if (!s.service) continue;
    const v = metricStrength(s.score.z);
    if (v <= 0) continue;
    if (s.beganAt !== undefined && s.beganAt < incidentStartS - LONG_BEFORE_S && !s.fromAlert) {
      if (!early.has(s.service)) early.set(s.service, s);
      continue;
    }
    const list = metricBy.get(s.service) ?? [];
    list.push({ v, s });
    metricBy.set(s.service, list);
  }
  for (const [service, list] of metricBy) {
    const load = loadGrowth(list.map((x) => x.s));
    for (const symptom of [true, false]) {
      // CPU that grew no faster than the requests it serves is the load, not a fault of its own.
      const part = list.filter((x) => x.s.symptom === symptom && !(load !== undefined && !symptom && explainedByLoad(x.s, load)));
      if (!part.length) continue;
      const best = part[0]!.s;
      const down = !symptom && part.every((x) => x.s.score.direction === 'down');
      // The alert's expression reads as Prometheus shows it at startsAt (the finding's figure),
      // not at the window's scored point.
      const at = best.fromAlert ? best.atStart : undefined;
      const shown = at
        ? `${best.what} ${at[1] >= best.score.baseline.median ? 'up' : 'down'} (z=${zText(robustZ(at[1], best.score.baseline))} at startsAt)`
        : `${best.what} ${best.score.direction} (z=${zText(best.score.z)})`;
      add(service, {
        kind: 'metric',
        symptom,
        count: part.length,
        // A resource that only fell (memory freed by a restart, idle CPU) is a weak sign by itself.
        value: diminishing(part.map((x) => x.v)) * (down ? DOWN_WEIGHT : 1),
        indicator: shown,
        down,
      });
    }
  }
  const logBy = new Map<string, LogPattern[]>();
  for (const p of patterns) {
    if (p.strength <= 0) continue;
    logBy.set(p.service, [...(logBy.get(p.service) ?? []), p]);
  }
  const mentioned = new Map<string, Map<string, number>>();
  const names = knownNames(scored, patterns, traces);
  const canonical = namespaceAliases(names.telemetry);
  const known = [...new Set([...names.telemetry, ...names.logs.filter((n) => !canonical.has(n)), ...canonical.keys()])];
  for (const [service, list] of logBy) {
    // A log line about a failed call names the callee: a symptom of it, and an edge of the graph.
    // Only a failed-call line counts as being about another component: any other text that
    // merely names one (which anyone can write into a log) stays the service's own pattern.
    // A service does not call itself: "ledger slow: 900ms" in ledger's own logs is about the
    // database its spans call by that namespace (postgresql ledger).
    const aliases = new Map(canonical);
    const self = ownDatabase(service, traces.calls.get(service));
    if (self) aliases.set(service, self);
    const about: LogPattern[] = [];
    for (const p of list) {
      if (!aboutCall(p.template)) continue;
      if (namesOther(p.template, service, known, mentioned, p.strength, aliases)) about.push(p);
      else if (FAILED_CALL.test(p.template)) {
        about.push(p);
        // Drain folded the callee into <*> ("ERROR <*> <*> failed after …"): the lines name it.
        const lines = p.samples ?? [];
        for (const line of lines) namesOther(line, service, known, mentioned, p.strength / lines.length, aliases);
      }
    }
    const own = list.filter((p) => !about.includes(p));
    for (const [part, symptom] of [
      [own, false],
      [about, true],
    ] as const) {
      if (!part.length) continue;
      const best = part[0]!;
      add(service, {
        kind: 'log',
        symptom,
        count: part.length,
        value: best.strength + 0.25 * (part[1]?.strength ?? 0),
        // Log text is data anyone can write: a suspect names the finding that quotes it.
        indicator: `${best.isNew ? 'new' : 'surging'} log pattern${input.logIds?.has(best) ? ` [${input.logIds.get(best)}]` : ''}`,
      });
    }
  }
  if (traces.errorTraceCount > 0) {
    for (const [service, n] of traces.errorOrigins) {
      const share = n / traces.errorTraceCount;
      add(service, {
        kind: 'trace',
        symptom: false,
        count: 1,
        value: 1.5 * share,
        indicator: `errors start in its spans in ${formatPercent(share)} of erroring traces`,
      });
    }
  }
  // 2. The causal path. A change, another alert or the history raises only a component on it:
  //    one the trace graph or a failed call reaches, or, without a graph, one that shares the
  //    alert's labels (its namespace, app, job); a deploy elsewhere is context, not a lead.
  //    Without a trace graph, a component that shares none of the alert's labels, that no failed
  //    call names and that runs on none of the path's hosts is a stranger: it may still rank (at
  //    a third of its score), but it never makes the path anomalous nor the confidence more than
  //    low. (A component with no telemetry of its own has no labels to share: not a stranger.)
  const path = pathOf(traces.calls, mentioned, alerting, scored);
  const labelled = new Set([...scored.map((s) => s.service), ...patterns.map((p) => p.service)]);
  const stranger = (c: string): boolean =>
    path.position(c) === 'unknown' && !!input.sharesLabels && labelled.has(c) && !input.sharesLabels.has(c);
  for (const c of input.corroborations ?? []) {
    if (path.position(c.service) === 'off' || stranger(c.service)) continue;
    add(c.service, { ...c, symptom: false, count: 1 });
  }
  // A dependency with no telemetry of its own (a managed database, an outside API) cannot log or
  // export its trouble: its callers' failed or slow calls naming it are its own evidence, at half
  // their weight (a healthy one is not named in a surge of failed calls).
  const ownTelemetry = new Set([...scored.map((s) => s.service), ...patterns.map((p) => p.service)]);
  const complaints = new Map<string, { value: number; callers: Set<string> }>();
  for (const [caller, named] of mentioned)
    for (const [target, weight] of named) {
      if (ownTelemetry.has(target)) continue;
      const cur = complaints.get(target) ?? { value: 0, callers: new Set<string>() };
      cur.value += weight;
      cur.callers.add(caller);
      complaints.set(target, cur);
    }
  for (const [target, { value, callers }] of complaints)
    add(target, {
      kind: 'log',
      symptom: false,
      count: callers.size,
      value: Math.min(3, 0.5 * value),
      indicator: `failed or slow calls to it in the logs of ${[...callers].sort().join(', ')}`,
    });

  for (const [service, s] of early) {
    if (contrib.has(service)) continue;
    unrelated.push({
      kind: 'unrelated',
      service,
      text: `${s.what} of ${service} ${s.score.direction} (z=${zText(s.score.z)}) since ${formatClock(s.beganAt!, now)}, long before the incident window: not its cause`,
    });
  }
  // A component whose series all shifted, and whose new log patterns all began, after the alert
  // fired (beyond a step of slack) is a consequence or a coincidence, not the cause. A surging
  // pattern has no onset of its own (it was there before): it keeps the component.
  // The slack: one query step (a shift shows at the first sample after it began), 90 s without one.
  const slackS = input.stepS !== undefined && Number.isFinite(input.stepS) ? Math.max(15, input.stepS) : 90;
  const onset = new Map<string, number>();
  const earliest = (service: string, t: number) => onset.set(service, Math.min(onset.get(service) ?? Infinity, t));
  for (const [service, list] of metricBy) for (const { s } of list) if (s.score.changeAt !== undefined) earliest(service, s.score.changeAt);
  for (const [service, list] of logBy)
    for (const p of list) earliest(service, p.isNew && p.firstSeen !== undefined ? p.firstSeen : -Infinity);
  for (const [service, list] of [...contrib].sort((a, b) => a[0].localeCompare(b[0]))) {
    const at = onset.get(service);
    if (input.anchorS === undefined || alerting.has(service) || at === undefined || at <= input.anchorS + slackS) continue;
    if (list.some((c) => c.kind !== 'metric' && c.kind !== 'log')) continue;
    unrelated.push({
      kind: 'unrelated',
      service,
      text: `${service}: ${[...list].sort((a, b) => b.value - a.value)[0]!.indicator}, but only since ${formatClock(at, now)}, after the alert fired: not its cause`,
    });
    contrib.delete(service);
  }
  for (const [service, list] of [...contrib].sort((a, b) => a[0].localeCompare(b[0]))) {
    if (path.position(service) !== 'off') continue;
    const best = [...list].sort((a, b) => b.value - a.value)[0]!;
    unrelated.push({
      kind: 'unrelated',
      service,
      text: `${service}: ${best.indicator}, but ${service} is not on the alert's call path (${[...alerting].sort().join(', ')}): not its cause`,
    });
    contrib.delete(service);
  }

  const withTelemetry = new Set(scored.map((s) => s.service).filter((s): s is string => !!s));
  const own = new Map<string, number>();
  for (const [service, list] of contrib)
    own.set(
      service,
      list.filter((c) => !c.symptom || !alerting.has(service)).reduce((s, c) => s + c.value, 0),
    );

  // 3. Symptoms move down the path: through trace blame (time and errors inside the service's
  //    spans owned by others), else through the callees its error logs name. A component with
  //    no evidence of its own receives half; one that is itself anomalous receives it all. What
  //    a component receives moves on the same way (the alert's latency, handed to the service it
  //    calls, goes on to the dependency that service waits on): shallow components first.
  const final = new Map<string, { score: number; parts: Contribution[] }>();
  const bump = (service: string, value: number, c?: Contribution): void => {
    const cur = final.get(service) ?? { score: 0, parts: [] };
    cur.score += value;
    if (c) cur.parts.push(c);
    final.set(service, cur);
  };
  const received = new Map<string, { value: number; parts: Contribution[] }>();
  const done = new Set<string>();
  const pending = (): string[] =>
    [...new Set([...contrib.keys(), ...received.keys()])]
      .filter((s) => !done.has(s))
      .sort((a, b) => path.depth(a) - path.depth(b) || a.localeCompare(b));
  for (let next = pending(); next.length; next = pending()) {
    const service = next[0]!;
    done.add(service);
    const list = contrib.get(service) ?? [];
    const got = received.get(service);
    const delegates = handOff(service, traces, mentioned, alerting, own, withTelemetry);
    const keep = delegates ? (delegates.get(service) ?? 0) : 1;
    const symptoms = list.filter((c) => c.symptom).reduce((s, c) => s + c.value, 0) + (got?.value ?? 0);
    const causes = list.filter((c) => !c.symptom).reduce((s, c) => s + c.value, 0);
    bump(service, symptoms * keep + causes);
    for (const c of list) final.get(service)!.parts.push({ ...c, value: c.symptom ? c.value * keep : c.value });
    for (const c of got?.parts ?? []) final.get(service)!.parts.push({ ...c, value: c.value * keep });
    if (!delegates) continue;
    for (const [target, share] of delegates) {
      if (target === service || share <= 0 || path.position(target) === 'off') continue;
      const corroborated = (own.get(target) ?? 0) >= 0.5 || (!withTelemetry.has(target) && traces.tracesOf.has(target)) ? 1 : 0.5;
      const value = symptoms * share * corroborated;
      const how = traces.blame.has(service) ? `${service}'s trace time and errors` : `the failed calls ${service} logs`;
      const part: Contribution = { kind: 'trace', symptom: false, count: 1, value, indicator: `owns ${formatPercent(share)} of ${how}` };
      // Too late to move on (a component already weighed, a cycle): it stays where it lands.
      if (done.has(target)) bump(target, value, part);
      else {
        const cur = received.get(target) ?? { value: 0, parts: [] };
        cur.value += value;
        cur.parts.push(part);
        received.set(target, cur);
      }
    }
  }

  const ranked: RankedSuspect[] = [];
  for (const [service, { score, parts }] of final) {
    // A resource that only fell supports a suspect, never makes one.
    const firm = score - parts.filter((p) => p.down).reduce((a, p) => a + p.value, 0);
    if (score < MIN_SUSPECT_SCORE || firm < MIN_SUSPECT_SCORE) continue;
    // Per kind: the summed value, named after its single largest part.
    const merged = new Map<SignalKind, Contribution & { best: number }>();
    for (const p of parts) {
      const cur = merged.get(p.kind);
      if (!cur) merged.set(p.kind, { ...p, best: p.value });
      else
        merged.set(p.kind, {
          ...cur,
          value: cur.value + p.value,
          count: cur.count + p.count,
          ...(p.value > cur.best ? { indicator: p.indicator, best: p.value } : {}),
        });
    }
    const sorted = [...merged.values()].sort((a, b) => b.value - a.value);
    const strong = sorted.filter((p) => p.value >= 0.5);
    const onPath = path.position(service) === 'on';
    // Not known to be on the path (no trace or failed-call log reaches it): a weaker suspect.
    const factor = onPath ? 1 : stranger(service) ? 0.3 : 0.6;
    ranked.push({
      service,
      indicator: sorted[0]?.indicator ?? 'anomalous',
      score: Math.round(score * factor * 100) / 100,
      kinds: new Set(strong.map((p) => p.kind)),
      signals: strong.map((p) => ({ kind: p.kind, count: p.count })),
      onPath,
      ...(stranger(service) ? { stranger: true } : {}),
    });
  }
  // The alert's own series: its expression, and the alerting services' other symptoms (a p99
  // stuck at a bucket edge can hide what the error ratio shows).
  const alertSeries = scored.filter((s) => s.fromAlert || (s.symptom && s.service !== undefined && alerting.has(s.service)));
  // Scored over the window, or read at startsAt (an analysis seconds after the alert fired has
  // a point or two of the change: the window's persistent score cannot see it yet).
  const zOf = (s: ScoredSeries): number => Math.max(s.score.z, s.fromAlert && s.atStart ? robustZ(s.atStart[1], s.score.baseline) : 0);
  const alertZ = alertSeries.length ? Math.max(...alertSeries.map(zOf)) : undefined;
  // Near ties (within 10%) go to the deeper component on the path: the one the others call.
  ranked.sort((a, b) => b.score - a.score || a.service.localeCompare(b.service));
  for (let i = 1; i < ranked.length; i++) {
    const prev = ranked[i - 1]!;
    const cur = ranked[i]!;
    if (cur.score >= 0.9 * prev.score && path.depth(cur.service) > path.depth(prev.service)) {
      ranked[i - 1] = cur;
      ranked[i] = prev;
    }
  }
  // What is known to be on the path counts (the alerting service beyond its own symptom, what
  // it calls, the hosts they run on); without a trace graph, a component sharing the alert's
  // labels counts only with two independent kinds of evidence of its own.
  const telling = (service: string, c: Contribution) =>
    c.value >= 0.5 && !c.down && !(alerting.has(service) && c.kind === 'metric' && c.symptom && c.count <= 1);
  const pathAnomalous = [...contrib].some(([service, list]) => {
    const position = path.position(service);
    if (position === 'on') return list.some((c) => telling(service, c));
    return (
      position === 'unknown' &&
      !path.informative &&
      !stranger(service) &&
      // …and it serves requests worse (latency, errors): a busy batch job beside the path, or on
      // its host, is not by itself a sign that the path is in trouble.
      list.some((c) => c.symptom && telling(service, c)) &&
      new Set(list.filter((c) => telling(service, c)).map((c) => c.kind)).size >= 2
    );
  });
  // The alert's own series within their usual range (threshold noise, a flapping rule): whatever
  // else moved, nothing here is the cause of an anomaly there is no sign of.

  // (Unless the alerting service itself shows a cause of its own: CPU pegged at its limit before
  // its latency shows it.)
  const selfCause = [...alerting].some((a) => (contrib.get(a) ?? []).some((c) => !c.symptom && telling(a, c)));
  const alertQuiet = alertZ !== undefined && alertZ < METRIC_MIN_Z && !selfCause;
  const ranking: Ranking = {
    suspects: ranked.slice(0, MAX_SUSPECTS),
    unrelated,
    pathAnomalous: pathAnomalous && !alertQuiet,
    path,
    ...(alertQuiet ? { alertQuietZ: alertZ } : {}),
  };
  // 4. Trace evidence alone. Unless a suspect stands out with confidence, the components on the
  //    path that own the most time and errors in the alerting services' slow or erroring traces
  //    fill the list up to three, below every suspect (they change no confidence): one slow
  //    trace is weak evidence (its weight grows with the number of traces), but it says where
  //    the alert's time went when nothing else does. (Not one whose instrumented caller shows
  //    nothing, the alerting services aside: that caller says it is fine.)
  if (confidenceOf(ranking) === 'high') return ranking;
  const vouched = (s: string) => !alerting.has(s) && vouchedFor(s, traces, alerting, own, withTelemetry);
  for (const lead of traceLeads(traces, alerting, path, vouched)) {
    if (ranking.suspects.length >= MIN_LISTED) break;
    if (!ranking.suspects.some((r) => r.service === lead.service)) ranking.suspects.push(lead);
  }
  return ranking;
}

/**
 * The components owning the time and errors of the alerting services' slow or erroring traces
 * (their trace blame), strongest first, scored by share × n/(n+2) for n traces: always under
 * MIN_SUSPECT_SCORE, so they never outrank a suspect of their own and never raise confidence.
 * Components off the path, and those an instrumented caller vouches for, are no leads.
 */
function traceLeads(
  traces: TraceSummary,
  alerting: ReadonlySet<string>,
  path: CausalPath,
  vouched: (s: string) => boolean,
): RankedSuspect[] {
  const best = new Map<string, { share: number; n: number; of: string }>();
  for (const a of [...alerting].sort()) {
    const n = traces.tracesOf.get(a) ?? 0;
    for (const [s, share] of traces.blame.get(a) ?? []) {
      if (share < MIN_LEAD_SHARE || path.position(s) === 'off' || vouched(s)) continue;
      const cur = best.get(s);
      if (!cur || share * n > cur.share * cur.n) best.set(s, { share, n, of: a });
    }
  }
  return [...best]
    .map(([service, { share, n, of }]) => ({
      service,
      indicator: `owns ${formatPercent(share)} of the time and errors in ${n} slow or erroring trace${n === 1 ? '' : 's'} of ${of}, and nothing else stands out`,
      score: Math.round(share * (n / (n + 2)) * 100) / 100,
      kinds: new Set<SignalKind>(['trace']),
      signals: [{ kind: 'trace' as const, count: n }],
      onPath: path.position(service) === 'on',
    }))
    .filter((x) => x.score > 0)
    .sort((a, b) => b.score - a.score || path.depth(b.service) - path.depth(a.service) || a.service.localeCompare(b.service));
}

/**
 * A slow dependency slows its callers: one that calls it, has telemetry and shows nothing (the
 * alerting services aside) says it is fine.
 */
function vouchedFor(
  s: string,
  traces: TraceSummary,
  alerting: ReadonlySet<string>,
  own: ReadonlyMap<string, number>,
  withTelemetry: ReadonlySet<string>,
): boolean {
  return [...traces.calls].some(
    ([caller, callees]) => callees.has(s) && !alerting.has(caller) && withTelemetry.has(caller) && !own.has(caller),
  );
}

/** Who takes over a service's symptoms: trace blame, else the callees its error logs name. */
function handOff(
  service: string,
  traces: TraceSummary,
  mentioned: ReadonlyMap<string, ReadonlyMap<string, number>>,
  alerting: ReadonlySet<string>,
  own: ReadonlyMap<string, number>,
  withTelemetry: ReadonlySet<string>,
): Map<string, number> | undefined {
  // Time goes to a component anomalous in its own right, or, from the alerting service, to one
  // with no telemetry of its own to say it is healthy (a managed dependency, a service without
  // metrics) unless a caller of it has telemetry and shows nothing (a slow dependency slows its
  // callers: one that is fine says it is fine): a healthy service spends most of its time in its
  // database, and that explains nothing. Errors go where they start (that is unambiguous).
  const time = traces.blame.get(service);
  const errs = traces.errorBlame.get(service);
  if (time) {
    const vouched = (s: string): boolean => vouchedFor(s, traces, alerting, own, withTelemetry);
    const eligible = (s: string, v: number): boolean =>
      s === service ||
      (v >= 0.1 &&
        ((own.get(s) ?? 0) >= 0.5 || (!withTelemetry.has(s) && (alerting.has(service) || traces.tracesOf.has(s)) && !vouched(s))));
    const kept = new Map([...time].filter(([s, v]) => eligible(s, v)));
    const total = [...kept.values()].reduce((a, b) => a + b, 0);
    if (kept.size > 1 && total > 0) {
      const out = new Map([...kept].map(([s, v]) => [s, v / total]));
      if (!errs) return out;
      // Errors and anomalous time, half each.
      const merged = new Map<string, number>();
      for (const [s, v] of out) merged.set(s, (merged.get(s) ?? 0) + v / 2);
      for (const [s, v] of errs) merged.set(s, (merged.get(s) ?? 0) + v / 2);
      return merged;
    }
  }
  if (errs) return errs;
  if (traces.traceCount > 0 && traces.tracesOf.has(service)) return undefined;
  const named = mentioned.get(service);
  if (!named || named.size === 0) return undefined;
  const total = [...named.values()].reduce((a, b) => a + b, 0);
  // Without traces, what its failed-call logs name takes most of it; the service keeps a fifth.
  return new Map([[service, 0.2], ...[...named].map(([s, v]) => [s, (0.8 * v) / total] as [string, number])]);
}

/**
 * Names a log template may mention: every service and dependency the evidence knows (its
 * telemetry: series, log streams, spans), and the callees failed-call lines name.
 */
function knownNames(
  scored: readonly ScoredSeries[],
  patterns: readonly LogPattern[],
  traces: TraceSummary,
): { telemetry: string[]; logs: string[] } {
  const names = new Set<string>();
  for (const s of scored) if (s.service) names.add(s.service);
  for (const p of patterns) names.add(p.service);
  for (const [from, to] of traces.calls) {
    names.add(from);
    for (const t of to) names.add(t);
  }
  // Without a trace naming it, a dependency with no telemetry is known only from what its
  // callers log about their failed or slow calls to it.
  const logs = new Set<string>();
  for (const p of patterns)
    if (p.strength > 0 && aboutCall(p.template))
      for (const text of [p.template, ...(p.samples ?? [])]) for (const n of calleesIn(text)) if (!names.has(n)) logs.add(n);
  const long = (n: string) => n.length >= 3;
  return { telemetry: [...names].filter(long), logs: [...logs].filter(long) };
}

/** Database systems (OpenTelemetry's db.system values) that name a database with its namespace, as spans do: "cassandra media". */
const DB_SYSTEMS = new Set(
  'postgresql mysql mariadb mssql oracle db2 sqlite cassandra scylla mongodb redis memcached elasticsearch opensearch couchbase couchdb dynamodb cosmosdb influxdb clickhouse cockroachdb neo4j hbase'.split(
    ' ',
  ),
);
/** Words that sit where a callee's name does but name nothing ("request slow", "call to the api failed"). */
const NOT_A_NAME = new Set(
  'warn warning error err info debug trace fatal critical notice level msg request requests call calls query queries step batch chunk lock task job handler response upstream downstream service server client connection the it is was api db database cache backend remote peer http https get post put delete'.split(
    ' ',
  ),
);
const TOKEN = String.raw`([A-Za-z][\w.-]{1,62}(?::\d{1,5})?)`;
const CALLEE_AT = [
  new RegExp(String.raw`\bcall(?:ing)? to ${TOKEN}(?=[\s:,;]|$)`, 'gi'),
  new RegExp(String.raw`\bconnect(?:ing|ion)? to ${TOKEN}(?=[\s:,;]|$)`, 'gi'),
  new RegExp(String.raw`(?:^|\s)${TOKEN} (?:slow(?:ly)?|failed after|timed out)\b`, 'gi'),
];

/**
 * The callees a failed-call log template names where a name stands: "call to X failed", "X
 * slow: 900ms", "INSERT trips mysql trips failed after 1000ms" (a database with its system reads
 * as the spans name it). Drain placeholders, numbers and plain words are not names.
 */
export function calleesIn(template: string): string[] {
  const out = new Set<string>();
  for (const re of CALLEE_AT) {
    for (const m of template.matchAll(re)) {
      const token = m[1]!.replace(/:\d+$/, '').replace(/[.-]+$/, '');
      if (token.length < 3 || NOT_A_NAME.has(token.toLowerCase())) continue;
      const before = template
        .slice(0, m.index + m[0].indexOf(m[1]!))
        .trimEnd()
        .split(/\s+/)
        .at(-1)
        ?.toLowerCase();
      out.add(before && DB_SYSTEMS.has(before) && !DB_SYSTEMS.has(token.toLowerCase()) ? `${before} ${token}` : token);
    }
  }
  return [...out];
}

/** Whether the template names another known component; records it in `mentioned`. */
function namesOther(
  template: string,
  service: string,
  known: readonly string[],
  mentioned: Map<string, Map<string, number>>,
  weight: number,
  canonical: ReadonlyMap<string, string> = new Map(),
): boolean {
  const named = new Set<string>();
  for (const name of known) {
    const target = canonical.get(name) ?? name;
    if (target === service || named.has(target)) continue;
    const i = template.indexOf(name);
    if (i < 0) continue;
    const before = template[i - 1];
    const after = template[i + name.length];
    const boundary = (c: string | undefined) => c === undefined || !/[A-Za-z0-9_-]/.test(c);
    if (!boundary(before) || !boundary(after)) continue;
    let m = mentioned.get(service);
    if (!m) mentioned.set(service, (m = new Map()));
    m.set(target, (m.get(target) ?? 0) + weight);
    named.add(target);
  }
  return named.size > 0;
}

/** The database a service's spans call under the service's own name as namespace ("postgresql ledger" for ledger). */
function ownDatabase(service: string, callees: ReadonlySet<string> | undefined): string | undefined {
  for (const n of callees ?? []) {
    const [system, ns, ...rest] = n.split(' ');
    if (system && ns === service && !rest.length && DB_SYSTEMS.has(system.toLowerCase())) return n;
  }
  return undefined;
}

/**
 * A database the spans name by system and namespace ("influxdb telemetry") is what its callers'
 * logs call by its namespace alone ("call to telemetry failed"): the namespace names it too,
 * unless something else has that name ("ledger" is a service, not postgresql ledger).
 */
function namespaceAliases(telemetry: readonly string[]): Map<string, string> {
  const names = new Set(telemetry);
  const out = new Map<string, string>();
  for (const n of telemetry) {
    const [system, ns, ...rest] = n.split(' ');
    if (!system || !ns || rest.length || !DB_SYSTEMS.has(system.toLowerCase()) || names.has(ns)) continue;
    out.set(ns, n);
  }
  return out;
}

/**
 * low: nothing on the causal path is anomalous beyond the alert itself, no strong suspect, or
 * two suspects nearly tied; high: a clear leader on the path backed by at least two independent
 * kinds of evidence (metrics, logs, traces, a change, another alert, history); medium otherwise.
 */
export function confidenceOf(r: Ranking): Analysis['confidence'] {
  const top = r.suspects[0];
  if (!top || !r.pathAnomalous || top.stranger || top.score < STRONG_SUSPECT_SCORE) return 'low';
  const second = r.suspects[1]?.score ?? 0;
  if (top.score < 1.15 * second) return 'low';
  if (top.onPath && top.score >= 5 && top.score >= 1.5 * second && top.kinds.size >= 2) return 'high';
  return 'medium';
}
