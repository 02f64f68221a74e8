import { loadConfig } from '../src/config';
import { groupLinks, linkRange } from '../src/publish/links';
import { eventPayload, loadPayload, NOW, recordsFor } from './publish-records';

/** The Grafana Logs link shows what the log source queried: LOKI_STREAM_LABELS and LOKI_LOG_FILTER. */

function logsQuery(env: Record<string, string>): string | undefined {
  const config = loadConfig(env);
  const payload = loadPayload('am-webhook-01');
  const records = recordsFor(payload, 'firing');
  const links = groupLinks({
    lead: records[0]!,
    alerts: records,
    payload: eventPayload(payload),
    grafanaUrl: 'https://grafana.example.com',
    service: 'checkout',
    logs: { streamLabels: config.LOKI_STREAM_LABELS, lineFilter: config.LOKI_LOG_FILTER },
    range: linkRange(undefined, undefined, NOW),
  });
  const href = links.find((l) => l.text === 'Logs')?.href;
  if (!href) return undefined;
  const panes = JSON.parse(new URL(href).searchParams.get('panes') ?? '{}') as { a: { queries: { expr: string }[] } };
  return panes.a.queries[0]?.expr;
}

describe('the Grafana Logs link', () => {
  it('selects the streams through LOKI_STREAM_LABELS and filters with LOKI_LOG_FILTER', () => {
    expect(logsQuery({ LOKI_STREAM_LABELS: 'service=app', LOKI_LOG_FILTER: '(?i)panic' })).toBe('{app="checkout"} |~ "(?i)panic"');
  });

  it('uses the defaults the log source uses', () => {
    expect(logsQuery({})).toBe('{service_name="checkout"} |~ "(?i)(error|warn|fatal|panic|exception|timeout|refused|fail)"');
  });

  it('is left out when no alert label maps to a stream label', () => {
    expect(logsQuery({ LOKI_STREAM_LABELS: 'tenant=tenant' })).toBeUndefined();
  });
});
