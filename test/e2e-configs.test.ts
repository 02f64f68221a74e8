import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema } from '../src/config';
import { exposedSeries, promqlNames } from './e2e/queries';

/**
 * The deployment files, checked with the real tools where they exist here (Prometheus'
 * promtool and Alertmanager's amtool, installed by npm run setup:test) and against the code they
 * describe otherwise. Docker cannot run here, so docker-compose.yml and the Dockerfile get
 * text checks: every file they mount exists, every variable they set is one the config
 * schema knows.
 */

const ROOT = join(__dirname, '..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

function tool(bin: string, args: string[], cwd = ROOT): string {
  try {
    return execFileSync(bin, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT')
      throw new Error(`${bin} is not installed (run npm run setup:test: it installs Debian's prometheus and prometheus-alertmanager)`);
    throw new Error(`${bin} ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** The `expr:` of every rule in a rules file (single-line or `|` block). */
function ruleExprs(yaml: string): string[] {
  const out: string[] = [];
  const lines = yaml.split('\n');
  lines.forEach((line, i) => {
    const m = /^(\s*)expr:\s*(.*)$/.exec(line);
    if (!m) return;
    if (m[2] !== '|' && m[2] !== '>') return void out.push(m[2]!);
    const block: string[] = [];
    for (let j = i + 1; j < lines.length && (lines[j]!.trim() === '' || /^\s+/.exec(lines[j]!)![0].length > m[1]!.length); j++)
      block.push(lines[j]!.trim());
    out.push(block.join(' ').trim());
  });
  return out;
}

describe('Prometheus configuration for the compose stack', () => {
  it('promtool accepts the config and every rule file it loads', () => {
    expect(tool('promtool', ['check', 'config', 'deploy/prometheus/prometheus.yml'])).toMatch(/SUCCESS: 3 rule files found/);
  });

  it("the demo rule fires on the demo target's failure ratio (promtool rule unit test)", () => {
    expect(tool('promtool', ['test', 'rules', 'rules-test.yml'], join(ROOT, 'deploy/prometheus'))).toContain('SUCCESS');
  });

  it("the rules on the annotator's own health name series /metrics exposes", () => {
    const exposed = exposedSeries();
    const exprs = ruleExprs(read('deploy/prometheus/rules/alert-annotator.yml'));
    expect(exprs).toHaveLength(3);
    const unknown = exprs.flatMap((e) =>
      promqlNames(e)
        .metrics.filter((m) => !exposed.has(m.name))
        .map((m) => m.name),
    );
    expect(unknown).toEqual([]);
  });

  it('the durability rules (backlog, dead letters, model failures, publish and Loki write failures) pass their promtool unit tests', () => {
    expect(tool('promtool', ['test', 'rules', 'annotator-rules-test.yml'], join(ROOT, 'deploy/prometheus'))).toContain('SUCCESS');
  });

  it('the durability rules name only series /metrics exposes', () => {
    const exposed = exposedSeries();
    const exprs = ruleExprs(read('deploy/prometheus/rules/annotator.yml'));
    expect(exprs).toHaveLength(5);
    const names = exprs.flatMap((e) => promqlNames(e).metrics.map((m) => m.name));
    expect(names).toEqual(expect.arrayContaining(['alert_annotator_dead_letters', 'alert_annotator_queue_jobs']));
    expect(names.filter((n) => !exposed.has(n))).toEqual([]);
  });

  it('the demo rules use the series the demo target serves', () => {
    const served = new Set([...read('deploy/demo/server.js').matchAll(/`(demo_\w+)\{/g)].map((m) => m[1]!));
    const used = ruleExprs(read('deploy/prometheus/rules/demo.yml')).flatMap((e) => promqlNames(e).metrics.map((m) => m.name));
    expect(used.length).toBeGreaterThan(0);
    expect(used.filter((n) => !served.has(n))).toEqual([]);
  });
});

describe('the example Alertmanager receiver', () => {
  const yaml = read('alertmanager/alertmanager.yml');

  it('amtool accepts it', () => {
    expect(tool('amtool', ['check-config', 'alertmanager/alertmanager.yml'])).toContain('SUCCESS');
  });

  it('routes critical alerts to the critical receiver and the rest to the default one', () => {
    const route = (labels: string[]) =>
      tool('amtool', ['config', 'routes', 'test', '--config.file=alertmanager/alertmanager.yml', ...labels]).trim();
    expect(route(['severity=critical', 'alertname=X'])).toBe('annotator-critical');
    expect(route(['severity=warning', 'alertname=X'])).toBe('annotator');
  });

  it('every webhook posts to our route with auth and send_resolved, grouped by alertname and service', () => {
    const urls = [...yaml.matchAll(/- url:\s*(\S+)/g)].map((m) => new URL(m[1]!).pathname);
    expect(urls.length).toBe(2);
    expect(new Set(urls)).toEqual(new Set(['/webhook/alertmanager']));
    expect(yaml.match(/send_resolved: true/g)).toHaveLength(2);
    expect(yaml.match(/credentials_file: \/run\/secrets\/webhook_token/g)).toHaveLength(2);
    expect(yaml).toMatch(/group_by: \[alertname, service\]/);
  });
});

describe('docker-compose.yml and the Dockerfile', () => {
  const compose = read('docker-compose.yml');
  const dockerfile = read('Dockerfile');

  it('has every service the stack needs', () => {
    const services = [...compose.slice(compose.indexOf('\nservices:')).matchAll(/^ {2}([a-z][\w-]*):\s*$/gm)].map((m) => m[1]!);
    expect(services).toEqual(
      expect.arrayContaining([
        'redis',
        'receiver',
        'worker',
        'ollama',
        'ollama-pull',
        'demo',
        'prometheus',
        'alertmanager',
        'loki',
        'tempo',
        'grafana',
      ]),
    );
  });

  it('copies into the image only paths that exist, including the incidents `demo` runs on', () => {
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    expect(sources).toEqual(expect.arrayContaining(['examples/incidents', 'prompts', 'bin']));
    expect(sources.filter((p) => !existsSync(join(ROOT, p)))).toEqual([]);
  });

  it('mounts only files and folders that exist in the repository', () => {
    const mounts = [...compose.matchAll(/^\s+(?:-\s+|file:\s+)(\.\/[^\s:]+)/gm)].map((m) => m[1]!);
    expect(mounts.length).toBeGreaterThanOrEqual(8);
    expect(mounts.filter((p) => !existsSync(join(ROOT, p)))).toEqual([]);
  });

  it("sets only variables the service's config schema knows", () => {
    const block = compose.slice(compose.indexOf('x-annotator:'), compose.indexOf('\nservices:'));
    const known = new Set([...Object.keys(configSchema.shape), ...Object.keys(configSchema.shape).map((k) => `${k}_FILE`)]);
    const set = [...block.matchAll(/^\s{4}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!);
    const roleBlocks = [...compose.matchAll(/^\s{6}(ROLE|PORT):/gm)].map((m) => m[1]!);
    expect(set.length).toBeGreaterThan(10);
    expect([...set, ...roleBlocks].filter((v) => !known.has(v))).toEqual([]);
  });

  it('points Grafana at the provisioned dashboard and Alertmanager at the token the receiver checks', () => {
    expect(compose).toContain('GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: /var/lib/grafana/dashboards/alert-annotations.json');
    expect(existsSync(join(ROOT, 'grafana/dashboards/alert-annotations.json'))).toBe(true);
    expect(compose).toContain('WEBHOOK_BEARER_TOKEN_FILE: /run/secrets/webhook_token');
  });

  it('builds in stages on an LTS Node and runs the built CLI as a non-root user', () => {
    const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const version = Number(/^ARG NODE_VERSION=(\d+)/m.exec(dockerfile)?.[1]);
    expect(version).toBeGreaterThanOrEqual(20);
    expect(version % 2).toBe(0); // even majors are the LTS lines
    expect(/^USER\s+(\S+)/m.exec(dockerfile)?.[1]).not.toMatch(/^(root|0)$/);
    const bin = (JSON.parse(read('package.json')) as { bin: Record<string, string> }).bin['alert-annotator'];
    expect(dockerfile).toContain(`ENTRYPOINT ["node", "${bin}"]`);
    expect(dockerfile).toMatch(/^HEALTHCHECK /m);
  });
});
