import type { Finding, SignalKind } from '../model/analysis';
import type { ChangeEvent, HistoryEntry } from '../model/context';
import type { EvidenceBundle } from '../model/evidence';
import { formatDuration } from '../text';
import { formatClock, quote } from './format';

/** A value as it is, on one line and cut to `max` characters. */
function plain(s: string, max: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/**
 * Evidence from outside the telemetry (issue 12 items 3-5), pure: change events before the
 * incident (`change`, D1…), other alerts firing on connected services (`alert`, F1…) and this
 * alert's history (`history`, H1…). Each also yields a corroboration of the service it names,
 * which the ranking counts as one more independent signal: a change minutes before startsAt
 * raises a suspect strongly, another alert on it moderately, a recurring cause only a little,
 * too little to make a suspect alone.
 */

export interface ContextCorroboration {
  service: string;
  kind: Extract<SignalKind, 'change' | 'firing' | 'history'>;
  value: number;
  indicator: string;
}

/** A change this close before startsAt (or after it, up to the analysis) is a lead. */
export const CHANGE_LEAD_S = 15 * 60;
const CHANGE_VALUE: Record<ChangeEvent['kind'], number> = { deploy: 2.5, config: 2, flag: 2, infra: 1.5, restart: 1 };
const FIRING_VALUE = 1;
/** Below MIN_SUSPECT_SCORE (rank.ts): history raises a suspect, never makes one. */
const HISTORY_VALUE = 0.75;
const MAX_CHANGE_FINDINGS = 8;
/** Fired this many times before with a median duration under FLAPPING_MAX_MS: flapping. */
const FLAPPING_MIN_EARLIER = 4;
const FLAPPING_MAX_MS = 10 * 60_000;
const MAX_ALERT_FINDINGS = 5;

function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${s}`;
}

function changeText(c: ChangeEvent, anchorS: number, now: Date): string {
  const t = Date.parse(c.time) / 1000;
  const what =
    c.kind === 'restart'
      ? (c.description ?? 'restart')
      : `${c.kind}${c.version ? ` ${plain(c.version, 60)}` : ''}${c.from ? ` (was ${plain(c.from, 60)})` : ''}`;
  const min = Math.round((anchorS - t) / 60);
  const rel = min > 0 ? `${min} min before the alert` : min < 0 ? `${-min} min after the alert started` : 'as the alert started';
  const desc = c.kind !== 'restart' && c.description ? `: ${quote(c.description, 120)}` : '';
  return `${what} on ${c.service} at ${formatClock(t, now)}, ${rel}${desc} (${c.origin === 'pushed' ? 'change event' : 'Prometheus'})`;
}

export interface ContextEvidence {
  findings: Omit<Finding, 'id'>[];
  corroborations: ContextCorroboration[];
}

/**
 * `connected`: the services an analysis can blame (the alerting services and those its
 * evidence reaches); alerts and changes elsewhere are left out.
 */
export function contextEvidence(
  bundle: EvidenceBundle,
  connected: ReadonlySet<string>,
  anchorS: number,
  baselineStartS: number,
  now: Date,
): ContextEvidence {
  const findings: Omit<Finding, 'id'>[] = [];
  const corroborations: ContextCorroboration[] = [];
  const nowS = now.getTime() / 1000;

  // What changed: everything in the baseline and incident windows on a connected service; the
  // ones just before (or since) startsAt corroborate their service.
  const changes = (bundle.changes ?? [])
    .filter((c) => connected.has(c.service))
    .filter((c) => {
      const t = Date.parse(c.time) / 1000;
      return t >= baselineStartS && t <= nowS;
    })
    .sort((a, b) => Math.abs(Date.parse(a.time) / 1000 - anchorS) - Math.abs(Date.parse(b.time) / 1000 - anchorS));
  const best = new Map<string, ContextCorroboration>();
  for (const c of changes.slice(0, MAX_CHANGE_FINDINGS)) {
    findings.push({ kind: 'change', service: c.service, text: changeText(c, anchorS, now), untrusted: c.origin === 'pushed' });
    const t = Date.parse(c.time) / 1000;
    if (t < anchorS - CHANGE_LEAD_S) continue;
    const value = CHANGE_VALUE[c.kind];
    const cur = best.get(c.service);
    if (!cur || value > cur.value) {
      best.set(c.service, {
        service: c.service,
        kind: 'change',
        value,
        indicator: `${c.kind === 'restart' ? 'restarted' : c.kind} at ${formatClock(t, now)}, just before the alert`,
      });
    }
  }
  corroborations.push(...best.values());

  // Other alerts firing now on connected services.
  const firing = (bundle.otherAlerts ?? []).filter((a) => a.service && connected.has(a.service));
  const firingBy = new Set<string>();
  for (const a of firing.slice(0, MAX_ALERT_FINDINGS)) {
    findings.push({
      kind: 'alert',
      service: a.service!,
      text: `also firing: ${plain(a.alertname, 80)} on ${a.service} since ${formatClock(Date.parse(a.startsAt) / 1000, now)}`,
    });
    if (firingBy.has(a.service!)) continue;
    firingBy.add(a.service!);
    corroborations.push({ service: a.service!, kind: 'firing', value: FIRING_VALUE, indicator: `${a.alertname} firing on it` });
  }
  if (firing.length > MAX_ALERT_FINDINGS) {
    findings.push({ kind: 'alert', text: `${firing.length - MAX_ALERT_FINDINGS} more alerts firing on connected services` });
  }

  const h = bundle.history;
  if (h && h.entries.length > 0) {
    findings.push(...historyFindings(h.entries, h.days));
    const counted = new Map<string, number>();
    for (const e of h.entries)
      if (e.suspect && !e.wrong && e.confidence !== 'low') counted.set(e.suspect, (counted.get(e.suspect) ?? 0) + 1);
    for (const [service, n] of counted) {
      if (!connected.has(service)) continue;
      corroborations.push({
        service,
        kind: 'history',
        value: HISTORY_VALUE,
        indicator: `named as the cause ${n} of ${h.entries.length} times before`,
      });
    }
  }
  return { findings, corroborations };
}

function historyFindings(entries: readonly HistoryEntry[], days: number): Omit<Finding, 'id'>[] {
  const last = entries.find((e) => !e.wrong && e.rootCause && e.confidence !== 'low');
  const durations = entries.filter((e) => e.durationMs !== undefined).map((e) => e.durationMs!);
  const median = durations.length ? [...durations].sort((a, b) => a - b)[Math.floor(durations.length / 2)]! : undefined;
  // Often and briefly: the card reads "flapping" as a sign of noise (publish/verdict.ts).
  const flapping = entries.length >= FLAPPING_MIN_EARLIER && median !== undefined && median <= FLAPPING_MAX_MS;
  const parts = [`${ordinal(entries.length + 1)} time in ${days} days${flapping ? ' (flapping: it usually resolves on its own)' : ''}`];
  if (last) {
    parts.push(
      `last time: ${plain(last.rootCause!, 140)} (${last.confidence ?? 'unknown'} confidence${last.durationMs !== undefined ? `, resolved after ${formatDuration(last.durationMs)}` : ''})`,
    );
  } else if (entries.some((e) => e.wrong)) parts.push('the earlier note was marked wrong');
  if (median !== undefined && durations.length > 1) parts.push(`median duration ${formatDuration(median)}`);
  const out: Omit<Finding, 'id'>[] = [{ kind: 'history', text: parts.join('; '), ...(last ? { untrusted: true } : {}) }];
  if (last?.suspect) out[0] = { ...out[0]!, service: last.suspect };
  return out;
}
