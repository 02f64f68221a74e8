import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError, loadConfig } from '../src/config';
import { webhookPayloadSchema, type WebhookPayload } from '../src/model/alert';
import { planRoutes, splitByTenant } from '../src/route/plan';
import { loadRoutesFile, parseRoutes, RoutesFileError, selectRoute } from '../src/route/routes';
import { fixture } from './helpers/service';

const run = promisify(execFile);
const root = resolve(__dirname, '..');
const deployRoutes = join(root, 'deploy', 'routes.yml');
/** The compose file's secrets do not exist here; stand in for them. */
const readWithSecrets = (p: string) => (p.startsWith('/run/secrets/') ? 'pd-key-from-file\n' : readFileSync(p, 'utf8'));

function problemsOf(text: string): string[] {
  try {
    parseRoutes(text, 'routes.yml');
  } catch (e) {
    if (e instanceof RoutesFileError) return e.problems;
    throw e;
  }
  return [];
}

function payload(labels: Record<string, string>[], receiver = 'alert-annotator'): WebhookPayload {
  const base = fixture('am-webhook-04').body as Record<string, unknown> & { alerts: Record<string, unknown>[] };
  const template = base.alerts[0]!;
  return webhookPayloadSchema.parse({
    ...base,
    receiver,
    alerts: labels.map((l, i) => ({ ...template, labels: { alertname: 'HighErrorRate', ...l }, fingerprint: `f${i}` })),
    // As Alertmanager computes them: the labels every alert shares.
    commonLabels: Object.fromEntries(
      Object.entries({ alertname: 'HighErrorRate', ...labels[0] }).filter(([k, v]) =>
        labels.every((l) => ({ alertname: 'HighErrorRate', ...l })[k] === v),
      ),
    ),
  });
}

describe('routes file', () => {
  it('the compose stack routes three teams, first match wins', () => {
    const { routes } = loadRoutesFile(deployRoutes, readWithSecrets);
    const pick = (labels: Record<string, string>) => selectRoute(routes, { labels }).name;
    expect(pick({ team: 'payments', severity: 'critical' })).toBe('payments');
    expect(pick({ team: 'payments', severity: 'warning' })).toBe('payments-low');
    expect(pick({ team: 'payments', severity: 'critical', env: 'staging' })).toBe('staging');
    expect(pick({ team: 'database' })).toBe('dba');
    expect(pick({ team: 'web' })).toBe('default');
    const payments = routes.find((r) => r.name === 'payments')!;
    expect(payments.pagerduty).toEqual({ routingKey: 'pd-key-from-file' });
    expect(payments.tenant).toBe('acme');
    expect(routes.find((r) => r.name === 'staging')!.pagerduty).toBe('none');
  });

  it('reports every problem with its line', () => {
    const problems = problemsOf(
      [
        'routes:', //                                1
        '  - name: payments', //                     2
        "    matchers: ['team=\"pay']", //          3  unescaped quote
        '    slack: { chanel: C0PAY }', //           4  misspelt key
        '  - name: payments', //                     5  duplicate name
        '    narrate: maybe', //                     6  not a boolean
      ].join('\n'),
    );
    expect(problems).toHaveLength(4);
    expect(problems.find((p) => p.includes('unescaped double quote'))).toMatch(/^line 3: /);
    expect(problems.find((p) => p.includes('slack'))).toMatch(/^line 4: /);
    expect(problems.find((p) => p.includes('narrate'))).toMatch(/^line 6: /);
    expect(problems.find((p) => p.includes('used twice'))).toMatch(/^line 5: /);
  });

  it('reports YAML syntax errors with their line', () => {
    const problems = problemsOf('routes:\n  - name: a\n    matchers: [\n');
    expect(problems[0]).toMatch(/^line \d+: /);
  });

  it('a bad ROUTES_FILE is a configuration error naming the variable, the file and the line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'routes-'));
    try {
      const file = join(dir, 'routes.yml');
      writeFileSync(file, 'routes:\n  - name: x\n    pagerduty: { routingKeyFile: /nonexistent/key }\n');
      expect(() => loadConfig({ ROUTES_FILE: file })).toThrow(ConfigError);
      try {
        loadConfig({ ROUTES_FILE: file });
      } catch (e) {
        expect((e as ConfigError).problems).toEqual([
          expect.stringMatching(/^ROUTES_FILE: .*routes\.yml: line 2: .*cannot read \/nonexistent\/key/),
        ]);
      }
      writeFileSync(file, 'routes:\n  - name: x\n    matchers: [\'team="a"\']\n');
      expect(loadConfig({ ROUTES_FILE: file }).routes?.map((r) => r.name)).toEqual(['x']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('matches the Alertmanager receiver when a route names one', () => {
    const routes = parseRoutes('routes:\n  - name: dba-recv\n    receiver: team-dba\n  - name: rest\n');
    expect(selectRoute(routes, { labels: {}, receiver: 'team-dba' }).name).toBe('dba-recv');
    expect(selectRoute(routes, { labels: {}, receiver: 'team-web' }).name).toBe('rest');
  });

  it('without a catch-all route, an unmatched group takes the default route', () => {
    const routes = parseRoutes('routes:\n  - name: only\n    matchers: [\'team="x"\']\n');
    expect(selectRoute(routes, { labels: { team: 'y' } }).name).toBe('default');
  });
});

describe('tenants', () => {
  it('a notification spanning two tenants is split, each part with its own alerts and common labels', () => {
    const p = payload([
      { tenant: 'acme', service: 'api' },
      { tenant: 'globex', service: 'api' },
      { tenant: 'acme', service: 'db' },
    ]);
    const parts = splitByTenant(p, 'tenant');
    expect(parts.map((x) => x.tenant)).toEqual(['acme', 'globex']);
    expect(parts[0]!.payload.alerts.map((a) => a.fingerprint)).toEqual(['f0', 'f2']);
    expect(parts[0]!.payload.commonLabels).toEqual({ alertname: 'HighErrorRate', tenant: 'acme' });
    expect(parts[1]!.payload.commonLabels).toEqual({ alertname: 'HighErrorRate', tenant: 'globex', service: 'api' });
    // Routed, each part is its own group: its own Slack message, incident and publish state.
    const routed = planRoutes(p, { routes: [], tenantLabel: 'tenant' });
    expect(routed.map((x) => x.payload.groupKey)).toEqual([`${p.groupKey}#tenant=acme`, `${p.groupKey}#tenant=globex`]);
  });

  it("a route's tenant wins over the label", () => {
    const routes = parseRoutes('routes:\n  - name: acme\n    matchers: [\'team="pay"\']\n    tenant: acme\n');
    const parts = planRoutes(payload([{ team: 'pay', tenant: 'other' }]), { routes, tenantLabel: 'tenant' });
    expect(parts.map((x) => [x.route.name, x.tenant])).toEqual([['acme', 'acme']]);
  });
});

describe('alert-annotator routes test', () => {
  it('explains which route a payload takes and why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'routes-cli-'));
    try {
      const file = join(dir, 'payload.json');
      writeFileSync(file, JSON.stringify(payload([{ team: 'database', severity: 'warning' }])));
      const routesFile = join(dir, 'routes.yml');
      writeFileSync(routesFile, readFileSync(deployRoutes, 'utf8').replace(/routingKeyFile: \/run\/secrets\/pd-payments/, 'routingKey: k'));
      const { stdout } = await run(process.execPath, ['-r', 'tsx/cjs', join(root, 'src/cli.ts'), 'routes', 'test', file], {
        env: { ...process.env, ROUTES_FILE: routesFile, WEBHOOK_AUTH: 'none', SLACK_BOT_TOKEN: 'xoxb-1-2', SLACK_CHANNEL: 'C0ALERTS' },
      });
      expect(stdout).toContain('→ route "dba"');
      expect(stdout).toContain('✘ staging');
      expect(stdout).toMatch(/env="staging" does not match \(env is not set\)/);
      expect(stdout).toMatch(/✔ dba\n\s+team=~"dba\|database" matches \(team is "database"\)/);
      expect(stdout).toContain('slack: C0DBA');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
