import request from 'supertest';
import { analyze } from '../src/analyze';
import { LokiClient } from '../src/clients/loki';
import { AlertmanagerSource } from '../src/gather/alertmanager';
import { ChangeSource, restartChanges, versionChanges } from '../src/gather/changes';
import { HistorySource } from '../src/gather/history';
import type { EvidenceBundle } from '../src/model/evidence';
import { CHANGE_JOB_LABEL } from '../src/model/context';
import { startAlertmanager, type Peer } from './e2e/peers';
import { FakeLoki } from './fakes/loki';
import { firingPayload, gatherRequest, never } from './helpers/gather';
import { startTestService, type TestService } from './helpers/service';

const BEARER = 'change-events-token-1';
const LABELS = ['service', 'app', 'job'];

describe('POST /events/change, stored in Loki and read back by the change source', () => {
  const loki = new FakeLoki();
  let svc: TestService;
  beforeAll(async () => {
    await loki.start();
    svc = await startTestService({ ROLE: 'receiver', WEBHOOK_BEARER_TOKEN: BEARER, LOKI_URL: loki.url });
  });
  afterAll(async () => {
    await svc.stop();
    await loki.stop();
  });

  it('refuses a request without the webhook credentials', async () => {
    const res = await request(svc.url).post('/events/change').send({ service: 'checkout', kind: 'deploy' });
    expect(res.status).toBe(401);
    expect(loki.entries({ job: CHANGE_JOB_LABEL })).toHaveLength(0);
  });

  it('answers 400 with the reasons for a bad event', async () => {
    const res = await request(svc.url)
      .post('/events/change')
      .set('Authorization', `Bearer ${BEARER}`)
      .send({ service: 'check out', kind: 'rollout', time: 'yesterday', extra: 1 });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_change');
    const paths = (res.body.issues as { path: string }[]).map((i) => i.path).sort();
    expect(paths).toEqual(expect.arrayContaining(['service', 'kind', 'time']));
    const bad = await request(svc.url)
      .post('/events/change')
      .set('Authorization', `Bearer ${BEARER}`)
      .set('Content-Type', 'application/json')
      .send('{"service":');
    expect(bad.status).toBe(400);
  });

  it('stores a deploy as one JSON line under {job="alert-annotator-changes"}; the change source finds it before the alert', async () => {
    const now = new Date();
    const at = new Date(now.getTime() - 4 * 60_000).toISOString();
    const res = await request(svc.url).post('/events/change').set('Authorization', `Bearer ${BEARER}`).send({
      service: 'checkout',
      kind: 'deploy',
      version: 'v2.4.1',
      description: 'new cart pricing',
      link: 'https://ci.example/run/7',
      time: at,
    });
    expect(res.status).toBe(202);
    const stored = loki.entries({ job: CHANGE_JOB_LABEL });
    expect(stored).toHaveLength(1);
    expect(JSON.parse(stored[0]!.line)).toMatchObject({ service: 'checkout', version: 'v2.4.1', time: at });

    const source = new ChangeSource({ loki: new LokiClient({ url: loki.url }), serviceLabels: LABELS, timeoutMs: 2000 });
    const payload = firingPayload(now, { alertname: 'HighErrorRate', service: 'checkout' }, { minutesAgo: 2 });
    const r = await source.gather(gatherRequest(payload, now), never());
    expect(r.changes).toEqual([
      expect.objectContaining({ service: 'checkout', kind: 'deploy', version: 'v2.4.1', origin: 'pushed', time: at }),
    ]);
  });
});

describe('changes seen in Prometheus, whatever the exporter', () => {
  const t0 = 1_700_000_000;
  const pts = (from: number, to: number, v: (t: number) => number): [number, string][] => {
    const out: [number, string][] = [];
    for (let t = from; t <= to; t += 15) out.push([t, String(v(t))]);
    return out;
  };

  it('a version label of a *_info series that changed is a deploy; one present all along is not', () => {
    const changes = versionChanges(
      [
        { metric: { __name__: 'app_build_info', service: 'cart', version: '1.0', pod: 'cart-a' }, values: pts(t0, t0 + 600, () => 1) },
        {
          metric: { __name__: 'app_build_info', service: 'cart', version: '1.1', pod: 'cart-b' },
          values: pts(t0 + 615, t0 + 900, () => 1),
        },
        { metric: { __name__: 'app_build_info', service: 'search', version: '3.0' }, values: pts(t0, t0 + 900, () => 1) },
      ],
      LABELS,
      t0,
    );
    expect(changes).toEqual([
      {
        service: 'cart',
        kind: 'deploy',
        time: new Date((t0 + 615) * 1000).toISOString(),
        version: '1.1',
        from: '1.0',
        origin: 'prometheus',
      },
    ]);
  });

  it('a start time that jumped, a restart counter that rose and a config reload are changes', () => {
    const changes = restartChanges(
      [
        {
          metric: { __name__: 'process_start_time_seconds', job: 'payments' },
          values: pts(t0, t0 + 600, (t) => (t < t0 + 300 ? t0 - 9000 : t0 + 290)),
        },
        {
          metric: { __name__: 'kube_pod_container_status_restarts_total', app: 'orders' },
          values: pts(t0, t0 + 600, (t) => (t < t0 + 450 ? 3 : 4)),
        },
        {
          metric: { __name__: 'nginx_config_last_reload_success_timestamp_seconds', service: 'edge' },
          values: pts(t0, t0 + 600, (t) => (t < t0 + 120 ? t0 - 50 : t0 + 100)),
        },
        { metric: { __name__: 'process_start_time_seconds', job: 'steady' }, values: pts(t0, t0 + 600, () => t0 - 9000) },
      ],
      LABELS,
    );
    expect(changes.map((c) => [c.service, c.kind, Date.parse(c.time) / 1000])).toEqual([
      ['payments', 'restart', t0 + 290],
      ['orders', 'restart', t0 + 450],
      ['edge', 'config', t0 + 100],
    ]);
  });
});

describe('other alerts firing now, from the real Alertmanager', () => {
  let am: Peer;
  beforeAll(async () => {
    am = await startAlertmanager(['route:', '  receiver: none', '  group_wait: 1h', 'receivers:', '  - name: none', ''].join('\n'));
  }, 30_000);
  afterAll(async () => am?.stop());

  it('reads active, unsilenced alerts less the group’s own', async () => {
    const now = new Date();
    const since = new Date(now.getTime() - 10 * 60_000).toISOString();
    const post = await fetch(`${am.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([
        { labels: { alertname: 'PaymentsDBDiskFull', service: 'payments-db', severity: 'critical' }, startsAt: since },
        { labels: { alertname: 'HighErrorRate', service: 'checkout' }, startsAt: since },
      ]),
    });
    expect(post.status).toBe(200);
    const payload = firingPayload(now, { alertname: 'HighErrorRate', service: 'checkout' });
    // The group's own alert, as Alertmanager fingerprints it.
    const listed = (await (await fetch(`${am.url}/api/v2/alerts`)).json()) as { fingerprint: string; labels: Record<string, string> }[];
    payload.alerts[0]!.fingerprint = listed.find((a) => a.labels.alertname === 'HighErrorRate')!.fingerprint;
    const source = new AlertmanagerSource({ url: am.url, serviceLabels: LABELS, timeoutMs: 2000 });
    const r = await source.gather(gatherRequest(payload, now), never());
    expect(r.otherAlerts).toEqual([
      expect.objectContaining({
        alertname: 'PaymentsDBDiskFull',
        service: 'payments-db',
        severity: 'critical',
        startsAt: new Date(since).toISOString(),
      }),
    ]);
  });
});

describe('this alert’s history, from its records in Loki', () => {
  const loki = new FakeLoki();
  beforeAll(async () => loki.start());
  afterAll(async () => loki.stop());

  it('counts earlier occurrences over 30 days in chunks Loki accepts, with the last cause and how long it lasted; a cause marked wrong is left out', async () => {
    const now = new Date();
    const day = 86_400_000;
    const rec = (daysAgo: number, status: 'firing' | 'resolved', extra: Record<string, unknown> = {}) => {
      const startsAt = new Date(now.getTime() - daysAgo * day).toISOString();
      const endsAt = status === 'resolved' ? new Date(now.getTime() - daysAgo * day + 12 * 60_000).toISOString() : '0001-01-01T00:00:00Z';
      return {
        fingerprint: 'f1',
        alertname: 'HighErrorRate',
        status,
        startsAt,
        endsAt,
        labels: { alertname: 'HighErrorRate', service: 'checkout' },
        ...extra,
      };
    };
    const lines = [
      rec(25, 'firing', { rootCause: 'payments timeouts', confidence: 'high', suspects: [{ service: 'payments' }] }),
      rec(25, 'resolved'),
      rec(12, 'firing', { rootCause: 'inventory connection pool exhausted', confidence: 'medium', suspects: [{ service: 'inventory' }] }),
      rec(12, 'resolved'),
      rec(3, 'firing', { rootCause: 'cart memory leak', confidence: 'high', suspects: [{ service: 'cart' }] }),
      // Another service's alert of the same name is not this alert's history.
      { ...rec(2, 'firing', { rootCause: 'x', confidence: 'high' }), labels: { alertname: 'HighErrorRate', service: 'search' } },
      // On-call said the 3-day-old note was wrong.
      { kind: 'feedback', fingerprint: 'f1', startsAt: rec(3, 'firing').startsAt, verdict: 'wrong', user: 'U1', at: now.toISOString() },
    ];
    const base = BigInt(now.getTime() - 40 * day) * 1_000_000n;
    lines.forEach((l, i) => {
      const ts = BigInt(Date.parse(String(l.startsAt)) + i) * 1_000_000n;
      loki.seed({ job: 'alert-annotator', alertname: 'HighErrorRate' }, [[(ts > base ? ts : base).toString(), JSON.stringify(l)]]);
    });
    const source = new HistorySource({
      client: new LokiClient({ url: loki.url }),
      serviceLabels: LABELS,
      timeoutMs: 3000,
      limit: 500,
      days: 30,
    });
    const payload = firingPayload(now, { alertname: 'HighErrorRate', service: 'checkout' });
    const r = await source.gather(gatherRequest(payload, now), never());
    expect(r.partial).toBeUndefined();
    expect(r.history!.entries.map((e) => [e.suspect, e.wrong ?? false, e.durationMs])).toEqual([
      ['cart', true, undefined],
      ['inventory', false, 12 * 60_000],
      ['payments', false, 12 * 60_000],
    ]);
    // Through the analysis: "4th time in 30 days; last time: inventory …, resolved after 12 min".
    const bundle: EvidenceBundle = { payload, now: now.toISOString(), series: [], logs: [], traces: [], history: r.history! };
    const h = analyze(bundle).findings.find((f) => f.kind === 'history');
    expect(h).toMatchObject({ id: 'H1', service: 'inventory' });
    expect(h!.text).toContain('4th time in 30 days');
    expect(h!.text).toContain('inventory connection pool exhausted (medium confidence, resolved after 12 min)');
    expect(h!.text).not.toContain('cart memory leak');
  });
});

describe('analysis of changes and other alerts', () => {
  it('a deploy on a connected service and another alert on it become change and alert findings; a bystander’s do not', () => {
    const now = new Date('2026-03-01T05:20:00Z');
    const payload = firingPayload(now, { alertname: 'HighErrorRate', service: 'checkout' }, { minutesAgo: 10 });
    const bundle: EvidenceBundle = {
      payload,
      now: now.toISOString(),
      series: [],
      logs: [],
      traces: [],
      changes: [
        { service: 'checkout', kind: 'deploy', version: 'v2', from: 'v1', time: '2026-03-01T05:08:00Z', origin: 'prometheus' },
        { service: 'batch', kind: 'deploy', version: 'v9', time: '2026-03-01T05:09:00Z', origin: 'pushed' },
      ],
      otherAlerts: [
        { alertname: 'CheckoutLatencyHigh', service: 'checkout', startsAt: '2026-03-01T05:10:00Z', fingerprint: 'a' },
        { alertname: 'BatchSlow', service: 'batch', startsAt: '2026-03-01T05:10:00Z', fingerprint: 'b' },
      ],
    };
    const f = analyze(bundle).findings;
    expect(f.filter((x) => x.kind === 'change').map((x) => [x.id, x.text])).toEqual([
      ['D1', 'deploy v2 (was v1) on checkout at 05:08 UTC, 2 min before the alert (Prometheus)'],
    ]);
    expect(f.filter((x) => x.id.startsWith('F')).map((x) => x.text)).toEqual([
      'also firing: CheckoutLatencyHigh on checkout since 05:10 UTC',
    ]);
  });
});

describe('history findings', () => {
  it('an alert that fired often and resolved within minutes each time reads as flapping; one that lasted does not', () => {
    const now = new Date('2026-03-01T05:20:00Z');
    const payload = firingPayload(now, { alertname: 'QueueLag', service: 'orders' });
    const entries = (ms: number) =>
      [1, 2, 3, 4, 5].map((d) => ({ startsAt: new Date(now.getTime() - d * 86_400_000).toISOString(), durationMs: ms }));
    const text = (ms: number): string =>
      analyze({
        payload,
        now: now.toISOString(),
        series: [],
        logs: [],
        traces: [],
        history: { days: 30, entries: entries(ms) },
      }).findings.find((f) => f.kind === 'history')!.text;
    expect(text(3 * 60_000)).toBe('6th time in 30 days (flapping: it usually resolves on its own); median duration 3 min');
    expect(text(45 * 60_000)).toBe('6th time in 30 days; median duration 45 min');
  });
});
