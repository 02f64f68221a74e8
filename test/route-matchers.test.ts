import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { matchesAll, parseMatcher, parseMatchers, MatcherError } from '../src/route/matchers';
import { findBinary } from './e2e/peers';

/**
 * Our matcher parser and evaluator against Alertmanager's own, through `amtool config routes
 * test` (the Debian prometheus-alertmanager package; `npm run setup:test` installs it): one
 * child route per matcher, each with `continue: true`, so amtool prints every matcher that
 * matches a label set and we compare the sets.
 */
const MATCHERS = [
  'team="payments"',
  'team=payments',
  'team = "payments"',
  'team!="payments"',
  'env!="staging"',
  'env!=staging',
  'env=""',
  'env!=""',
  'env=~""',
  'env=~".+"',
  'severity=~"critical|page"',
  'severity=~critical|page',
  'severity!~"critical|page"',
  'severity=~"crit.*"',
  'severity=~"CRITICAL"',
  'severity=~"(?i)critical"',
  'service=~"pay.*|check[a-z]+"',
  'service=~"pay"',
  'service!~"pay"',
  'instance=~"10\\\\.0\\\\.0\\\\.[0-9]+:9100"',
  'instance=~"10.0.0.1:9100"',
  'summary="say \\"hi\\""',
  'summary="a\\\\b"',
  'summary="line\\nbreak"',
  'summary="a,b"',
  'summary="with spaces"',
  'summary=with spaces',
  'summary=~".*spaces.*"',
  'path="C:\\\\temp"',
  'path="\\d"',
  'odd_name:with:colons="x"',
  '_underscore="y"',
  'alertname=~"Checkout.*"',
  'alertname=~"^CheckoutLatencyHigh$"',
  'alertname!~"Watchdog|InfoInhibitor"',
  'team=~"payments|"',
  'team=~"|payments"',
  'severity=~"[[:alpha:]]+"',
  'num=~"[0-9]{2,3}"',
  'unicode="é€"',
];

const LABEL_SETS: Record<string, string>[] = [
  {},
  { team: 'payments' },
  { team: 'payments', severity: 'critical', env: 'prod' },
  { team: 'dba', severity: 'page', env: 'staging' },
  { team: 'Payments', severity: 'CRITICAL' },
  { severity: 'crit', service: 'payments-api' },
  { service: 'checkout', instance: '10.0.0.12:9100' },
  { service: 'pay', instance: '10x0x0x1:9100' },
  { summary: 'say "hi"', path: 'C:\\temp' },
  { summary: 'a\\b', path: '\\d' },
  { summary: 'line\nbreak', num: '123' },
  { summary: 'a,b', 'odd_name:with:colons': 'x', _underscore: 'y' },
  { summary: 'with spaces', num: '7' },
  { summary: 'with\nspaces', severity: 'critical\n' },
  { alertname: 'CheckoutLatencyHigh', env: '' },
  { alertname: 'Watchdog', unicode: 'é€' },
];

const INVALID = ['team', 'team=="x"', '="x"', '1team="x"', 'team="x', 'team="a"b"', 'team=~"("', 'team=~"(?=x)"', 'team=~"\\1"'];

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

describe('Alertmanager matchers, checked against amtool', () => {
  const amtool = findBinary('AMTOOL', ['amtool']);
  const dir = mkdtempSync(join(tmpdir(), 'amtool-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const config = join(dir, 'am.yml');
  writeFileSync(
    config,
    [
      'route:',
      '  receiver: none',
      '  routes:',
      ...MATCHERS.flatMap((m, i) => [`    - receiver: r${i}`, `      matchers: [${JSON.stringify(m)}]`, '      continue: true']),
      'receivers:',
      '  - name: none',
      ...MATCHERS.map((_, i) => `  - name: r${i}`),
    ].join('\n'),
  );

  it('amtool accepts every matcher of the table', () => {
    expect(() => execFileSync(amtool, ['check-config', config], { stdio: 'pipe' })).not.toThrow();
  });

  it.each(LABEL_SETS.map((labels, i) => [i, labels] as const))(
    'label set %i matches the same matchers as in Alertmanager',
    (_i, labels) => {
      const args = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
      // amtool needs at least one label; a label nobody matches on stands in for the empty set.
      if (args.length === 0) args.push('zz_none="1"');
      const out = execFileSync(amtool, ['config', 'routes', 'test', `--config.file=${config}`, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
      const theirs = out === 'none' ? [] : out.split(',').map((r) => Number(r.slice(1)));
      const ours = MATCHERS.flatMap((m, i) => (matchesAll([parseMatcher(m)], labels) ? [i] : []));
      expect(ours.map((i) => MATCHERS[i])).toEqual(theirs.map((i) => MATCHERS[i]));
    },
  );

  it.each(INVALID)('rejects %s, as amtool does', (m) => {
    const bad = join(dir, 'bad.yml');
    writeFileSync(bad, `route:\n  receiver: none\n  matchers: [${JSON.stringify(m)}]\nreceivers: [{name: none}]\n`);
    expect(() => execFileSync(amtool, ['check-config', bad], { stdio: 'pipe' })).toThrow();
    expect(() => parseMatcher(m)).toThrow(MatcherError);
  });
});

describe('matcher lists', () => {
  it('reads the brace form and commas inside quotes', () => {
    const ms = parseMatchers('{team="pay,ments", severity=~"critical|page"}');
    expect(ms.map((m) => [m.name, m.op, m.value])).toEqual([
      ['team', '=', 'pay,ments'],
      ['severity', '=~', 'critical|page'],
    ]);
  });

  it('a label the alert does not have counts as empty', () => {
    expect(matchesAll(parseMatchers('env!="staging"'), {})).toBe(true);
    expect(matchesAll(parseMatchers('env="staging"'), {})).toBe(false);
  });
});
