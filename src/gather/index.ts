import { withSpan } from '../spans';
import type { EvidenceBundle, SourceStatus } from '../model/evidence';
import type { GatherRequest, Source } from './source';

const ALL_SOURCES: SourceStatus['source'][] = ['prometheus', 'loki', 'tempo'];

/**
 * Fans out to every configured source in parallel; each failure becomes a source status,
 * never an exception (as Alertmanager's fan-out stage collects errors without stopping others).
 */
export async function gather(sources: readonly Source[], req: GatherRequest, signal: AbortSignal): Promise<EvidenceBundle> {
  const bundle: EvidenceBundle = {
    payload: req.payload,
    now: req.now.toISOString(),
    series: [],
    logs: [],
    traces: [],
    sources: [],
    windows: {
      baselineStart: req.windows.baselineStart.toISOString(),
      incidentStart: req.windows.incidentStart.toISOString(),
      end: req.windows.end.toISOString(),
    },
  };
  const results = await Promise.allSettled(
    sources.map((s) =>
      // docs/architecture.md span names: gather.prometheus|loki|tempo.
      withSpan(`gather.${s.name}`, { 'alert.count': req.alerts.length }, async (span) => {
        const r = await s.gather(req, signal);
        span.setAttributes({
          'gather.series': r.series?.length ?? 0,
          'gather.log_streams': r.logs?.length ?? 0,
          'gather.traces': r.traces?.length ?? 0,
          'gather.partial': !!r.partial,
        });
        return r;
      }),
    ),
  );
  results.forEach((r, i) => {
    const source = sources[i]!;
    if (r.status === 'fulfilled') {
      bundle.series.push(...(r.value.series ?? []));
      bundle.logs.push(...(r.value.logs ?? []));
      bundle.traces.push(...(r.value.traces ?? []));
      if (r.value.exemplars?.length) (bundle.exemplars ??= []).push(...r.value.exemplars);
      if (r.value.changes?.length) (bundle.changes ??= []).push(...r.value.changes);
      if (r.value.otherAlerts) (bundle.otherAlerts ??= []).push(...r.value.otherAlerts);
      if (r.value.history) bundle.history = r.value.history;
      bundle.sources!.push(
        r.value.partial ? { source: source.name, status: 'partial', detail: r.value.partial } : { source: source.name, status: 'ok' },
      );
    } else {
      const detail = r.reason instanceof Error ? r.reason.message : String(r.reason);
      req.log.warn({ source: source.name, err: detail }, 'evidence source failed; the note will be thinner');
      bundle.sources!.push({ source: source.name, status: 'failed', detail });
    }
  });
  const logsFrom = results.map((r) => (r.status === 'fulfilled' ? r.value.logsFrom : undefined)).find((x) => x);
  if (logsFrom && bundle.windows) {
    if (logsFrom.baseline) bundle.windows.logsBaselineFrom = logsFrom.baseline.toISOString();
    if (logsFrom.incident) bundle.windows.logsIncidentFrom = logsFrom.incident.toISOString();
  }
  for (const name of ALL_SOURCES) {
    if (!sources.some((s) => s.name === name)) bundle.sources!.push({ source: name, status: 'skipped', detail: 'not configured' });
  }
  return bundle;
}
