import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { FakeLoki } from './fakes/loki';
import { FAKE_SLACK_TOKEN, FakeSlack } from './fakes/slack';
import { fixture, startTestService, type TestService } from './helpers/service';

type Body = Record<string, unknown> & { alerts: (Record<string, unknown> & { labels: Record<string, string> })[] };

function body(groupKey: string, receiver: string, tenants: (string | undefined)[]): Body {
  const b = structuredClone(fixture('am-webhook-04').body) as Body;
  b.groupKey = groupKey;
  b.receiver = receiver;
  b.alerts = b.alerts.slice(0, tenants.length).map((a, i) => {
    const labels = { ...a.labels };
    if (tenants[i] !== undefined) labels.tenant = tenants[i]!;
    const suffix = { acme: 'a', globex: 'b' }[tenants[i] ?? ''] ?? '';
    return { ...a, labels, fingerprint: `${String(a.fingerprint).slice(0, 15)}${suffix}` };
  });
  const common = { ...b.alerts[0]!.labels };
  for (const k of Object.keys(common)) if (!b.alerts.every((a) => a.labels[k] === common[k])) delete common[k];
  b.commonLabels = common;
  return b;
}

async function post(svc: TestService, b: unknown): Promise<void> {
  const res = await request(svc.url)
    .post('/webhook/alertmanager')
    .send(b as object);
  expect([res.status, res.text]).toEqual([200, expect.any(String)]);
}

describe('tenants on one multi-tenant Loki', () => {
  let loki: FakeLoki;
  let slack: FakeSlack;
  let dir: string;
  beforeAll(async () => {
    loki = await new FakeLoki().start();
    loki.multiTenant = true;
    slack = await new FakeSlack().start();
    slack.channels.push({ id: 'C0API', name: 'api-oncall', member: true });
    dir = mkdtempSync(join(tmpdir(), 'tenants-'));
  });
  afterAll(async () => {
    await loki.stop();
    await slack.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    loki.clear();
    loki.requests.length = 0;
  });

  it('a notification spanning two tenants is split: each tenant queries and writes only with its own org id', async () => {
    const svc = await startTestService({ LOKI_URL: loki.url, TENANT_LABEL: 'tenant', LOKI_TENANT: 'ops' });
    try {
      await post(svc, body('{}:{alertname="HighErrorRate"}/split', 'alert-annotator', ['acme', 'globex', 'acme']));
      await svc.waitForJobs();
      const acme = loki.records('acme');
      const globex = loki.records('globex');
      expect(acme.map((r) => (r.labels as Record<string, string>).tenant)).toEqual(['acme', 'acme']);
      expect(globex.map((r) => (r.labels as Record<string, string>).tenant)).toEqual(['globex']);
      expect(acme.every((r) => r.tenant === 'acme')).toBe(true);
      expect(globex.every((r) => r.tenant === 'globex')).toBe(true);
      // Nothing went to the service-wide org, and every request named exactly one tenant.
      expect(loki.records('ops')).toEqual([]);
      for (const r of loki.requests.filter((q) => q.path.startsWith('/loki/'))) {
        const org = r.headers['x-scope-orgid'];
        expect(['acme', 'globex']).toContain(org);
        const text = `${r.query.toString()} ${typeof r.body === 'string' ? r.body : JSON.stringify(r.json ?? '')}`;
        expect(text).not.toContain(org === 'acme' ? 'globex' : 'acme');
      }
      // Every line logged for a part names its tenant, and only that tenant's alerts.
      const annotated = svc.logs.filter((l) => l.msg === 'alert annotated');
      expect(annotated).toHaveLength(3);
      for (const l of annotated) {
        const rec = [...acme, ...globex].find((r) => r.fingerprint === l.fingerprint)!;
        expect(l.tenant).toBe(rec.tenant);
      }
      // Each tenant's part is its own group: no record mixes two tenants' alerts in one group.
      expect(new Set(acme.map((r) => r.groupKey)).size).toBe(1);
      expect(acme[0]!.groupKey).not.toBe(globex[0]!.groupKey);
    } finally {
      await svc.stop();
    }
  });

  it("dedup in one tenant never suppresses the other's identical alert", async () => {
    const routes = join(dir, 'routes.yml');
    writeFileSync(
      routes,
      [
        'routes:',
        '  - name: acme',
        '    receiver: acme-am',
        '    tenant: acme',
        '  - name: globex',
        '    receiver: globex-am',
        '    tenant: globex',
      ].join('\n'),
    );
    const svc = await startTestService({ LOKI_URL: loki.url, ROUTES_FILE: routes });
    try {
      // The same alert (same labels, same fingerprint) from each tenant's own Alertmanager.
      await post(svc, body('{}:{alertname="HighErrorRate"}/same', 'acme-am', [undefined]));
      await svc.waitForJobs();
      await post(svc, body('{}:{alertname="HighErrorRate"}/same', 'globex-am', [undefined]));
      await svc.waitForJobs();
      expect(loki.records('acme')).toHaveLength(1);
      expect(loki.records('globex')).toHaveLength(1);
      expect(loki.records('acme')[0]!.route).toBe('acme');
      expect(loki.records('globex')[0]!.route).toBe('globex');
      // A repeat within one tenant is still deduplicated.
      await post(svc, { ...body('{}:{alertname="HighErrorRate"}/same', 'acme-am', [undefined]), externalURL: 'http://am-2:9093' });
      await svc.waitForJobs();
      expect(loki.records('acme')).toHaveLength(1);
    } finally {
      await svc.stop();
    }
  });

  it("routes send each team's group to its own Slack channel; a quiet route only records", async () => {
    const routes = join(dir, 'routes-slack.yml');
    writeFileSync(
      routes,
      [
        'routes:',
        '  - name: quiet',
        '    matchers: [\'env="staging"\']',
        '    quiet: true',
        '  - name: api',
        '    matchers: [\'service="api"\']',
        '    slack: { channel: C0API }',
        "    links: [{ title: API dashboards, url: 'https://grafana.example.com/d/api-extra' }]",
        '  - name: default',
        '    slack: { channel: C0ALERTS }',
      ].join('\n'),
    );
    const svc = await startTestService({
      LOKI_URL: loki.url,
      LOKI_TENANT: 'ops',
      ROUTES_FILE: routes,
      SLACK_BOT_TOKEN: FAKE_SLACK_TOKEN,
      SLACK_CHANNEL: 'C0UNUSED',
      SLACK_API_URL: `${slack.url}/api`,
    });
    try {
      const api = body('{}:{service="api"}/g1', 'alert-annotator', [undefined]);
      api.alerts[0]!.labels.service = 'api';
      api.commonLabels = { ...api.alerts[0]!.labels };
      const staging = body('{}:{env="staging"}/g2', 'alert-annotator', [undefined]);
      staging.alerts[0]!.labels.env = 'staging';
      staging.alerts[0]!.fingerprint = '5a1';
      staging.commonLabels = { ...staging.alerts[0]!.labels };
      const other = body('{}:{x="y"}/g3', 'alert-annotator', [undefined]);
      other.alerts[0]!.fingerprint = '0e1';
      other.alerts[0]!.labels.service = 'web';
      other.commonLabels = { ...other.alerts[0]!.labels };
      await post(svc, api);
      await post(svc, staging);
      await post(svc, other);
      await svc.waitForJobs();
      const posts = slack.topLevel().map((m) => m.channel);
      expect(posts.sort()).toEqual(['C0ALERTS', 'C0API']);
      const byRoute = Object.fromEntries(loki.records('ops').map((r) => [r.fingerprint, r.route]));
      expect(byRoute).toEqual({ [String(api.alerts[0]!.fingerprint)]: 'api', '5a1': 'quiet', '0e1': 'default' });
      // The route's own links reach its message, and only its message.
      const apiMsg = slack.topLevel().find((m) => m.channel === 'C0API')!;
      expect(JSON.stringify(apiMsg.blocks)).toContain('https://grafana.example.com/d/api-extra');
      expect(JSON.stringify(slack.topLevel().find((m) => m.channel === 'C0ALERTS')!.blocks)).not.toContain('api-extra');
      // The staging group was recorded under its quiet route but sent nowhere.
      expect(slack.allBodies()).not.toContain('5a1');
    } finally {
      await svc.stop();
    }
  });

  it("past a route's cap of new Slack messages a minute, one roll-up message lists the rest and is updated", async () => {
    const routes = join(dir, 'routes-cap.yml');
    writeFileSync(routes, ['routes:', '  - name: noisy', '    slack: { channel: C0ALERTS }', '    slackPerMinute: 2'].join('\n'));
    const svc = await startTestService({
      LOKI_URL: loki.url,
      LOKI_TENANT: 'ops',
      ROUTES_FILE: routes,
      SLACK_BOT_TOKEN: FAKE_SLACK_TOKEN,
      SLACK_CHANNEL: 'C0ALERTS',
      SLACK_API_URL: `${slack.url}/api`,
    });
    try {
      slack.messages.length = 0;
      for (let i = 0; i < 6; i++) {
        const b = body(`{}:{g="${i}"}/cap`, 'alert-annotator', [undefined]);
        b.alerts[0]!.fingerprint = `c0${i}`;
        b.alerts[0]!.labels.alertname = `Noisy${i}`;
        b.commonLabels = { ...b.alerts[0]!.labels };
        await post(svc, b);
      }
      await svc.waitForJobs();
      const top = slack.topLevel();
      // Two cards, then one roll-up for the other four (the minute may turn over once mid-test).
      const rollups = top.filter((m) => (m.text ?? '').startsWith('🔕'));
      const cards = top.filter((m) => !(m.text ?? '').startsWith('🔕'));
      expect(cards.length).toBeGreaterThanOrEqual(2);
      expect(cards.length).toBeLessThanOrEqual(4);
      expect(rollups.length).toBeGreaterThanOrEqual(1);
      expect(cards.length + rollups.length).toBeLessThan(6);
      const listed = rollups.map((m) => m.text ?? '').join('\n');
      const named = [0, 1, 2, 3, 4, 5].filter((i) => listed.includes(`Noisy${i}`));
      expect(named.length + cards.length).toBe(6);
      expect(rollups.some((m) => m.updates > 0)).toBe(true);
      // Every group still has its record.
      expect(loki.records('ops').filter((r) => String(r.fingerprint).startsWith('c0'))).toHaveLength(6);
    } finally {
      await svc.stop();
    }
  });
});
