import type { WebhookPayload } from './alert';

/**
 * The two windows every source queries and the analysis compares (issue 3):
 * baseline = [anchor − baselineMin, anchor − leadMin), incident = [anchor − leadMin, now] (at most
 * an hour past the anchor),
 * where anchor is the earliest startsAt of the group's firing alerts. The last minutes
 * before startsAt belong to the incident because a rule's `for:` clause delays firing.
 */
export interface Windows {
  baselineStart: Date;
  /** Also the incident window's start. */
  incidentStart: Date;
  anchor: Date;
  end: Date;
}

export interface WindowOptions {
  baselineMin?: number;
  leadMin?: number;
}

const DEFAULT_BASELINE_MIN = 60;
const DEFAULT_LEAD_MIN = 5;
/**
 * The incident window ends at now, but no later than this after startsAt: an alert first
 * seen days after it started (a worker back from an outage) is explained by its start, and
 * a days-long window would thin every series to a few points and flood the log limit.
 */
const MAX_INCIDENT_AFTER_START_MIN = 60;

export function alertWindows(
  alerts: Pick<WebhookPayload['alerts'][number], 'startsAt' | 'status'>[],
  now: Date,
  opts: WindowOptions = {},
): Windows {
  const firing = alerts.filter((a) => a.status === 'firing');
  const starts = (firing.length ? firing : alerts).map((a) => Date.parse(a.startsAt)).filter((t) => Number.isFinite(t));
  // An alert stamped in the future (clock skew) must not push the windows past now.
  const anchorMs = Math.min(starts.length ? Math.min(...starts) : now.getTime(), now.getTime());
  const baselineMs = (opts.baselineMin ?? DEFAULT_BASELINE_MIN) * 60_000;
  const leadMs = (opts.leadMin ?? DEFAULT_LEAD_MIN) * 60_000;
  return {
    baselineStart: new Date(anchorMs - baselineMs),
    incidentStart: new Date(anchorMs - leadMs),
    anchor: new Date(anchorMs),
    end: new Date(Math.min(now.getTime(), anchorMs + MAX_INCIDENT_AFTER_START_MIN * 60_000)),
  };
}

/**
 * A query_range step that keeps each series at or under `maxPoints` points over [start, end]
 * (Prometheus counts both ends: points = floor(range / step) + 1), never below `minStepS`.
 */
export function stepSeconds(start: Date, end: Date, maxPoints = 500, minStepS = 15): number {
  const rangeS = Math.max(0, (end.getTime() - start.getTime()) / 1000);
  return Math.max(minStepS, Math.ceil(rangeS / Math.max(1, maxPoints - 1)));
}
