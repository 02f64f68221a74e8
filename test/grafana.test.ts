import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordLabels, RECORD_JOB_LABEL } from '../src/model/record';
import { annotationRecordSchema } from '../src/model/record';
import { feedbackLabels } from '../src/model/feedback';
import { exposedSeries, promqlNames } from './e2e/queries';

/**
 * The provisioned dashboard is checked against what the service really writes and exposes:
 * every datasource uid a panel uses is provisioned, every LogQL query selects the record's
 * stream labels and names fields the annotation record has, every PromQL query names
 * metrics (and labels) that /metrics exposes. A renamed record field or metric fails here
 * instead of leaving an empty panel.
 */

const ROOT = join(__dirname, '..');
const dashboard = JSON.parse(readFileSync(join(ROOT, 'grafana/dashboards/alert-annotations.json'), 'utf8')) as Dashboard;
const datasourcesYaml = readFileSync(join(ROOT, 'grafana/provisioning/datasources/datasources.yaml'), 'utf8');

interface DsRef {
  type?: string;
  uid?: string;
}
interface Target {
  datasource?: DsRef;
  expr?: string;
  refId?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: DsRef;
  targets?: Target[];
  transformations?: { id: string; options: Record<string, unknown> }[];
  panels?: Panel[];
}
interface Annotation {
  name: string;
  datasource: DsRef;
  expr?: string;
  titleFormat?: string;
  textFormat?: string;
  tagKeys?: string;
  target?: { expr?: string; titleFormat?: string; textFormat?: string; tagKeys?: string };
  builtIn?: number;
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  annotations: { list: Annotation[] };
  templating: { list: { name: string; datasource: DsRef; query: unknown }[] };
}

/** The datasources in the provisioning file: `- name:` starts an entry; `uid:`/`type:` belong to it. */
function provisionedDatasources(yaml: string): { name: string; uid: string; type: string }[] {
  const out: { name: string; uid: string; type: string }[] = [];
  let cur: Partial<{ name: string; uid: string; type: string }> | undefined;
  for (const line of yaml.split('\n')) {
    const entry = /^ {2}- name:\s*(.+)$/.exec(line);
    if (entry) {
      if (cur) out.push(cur as { name: string; uid: string; type: string });
      cur = { name: entry[1]!.trim() };
      continue;
    }
    const field = /^ {4}(uid|type):\s*(\S+)\s*$/.exec(line);
    if (field && cur) cur[field[1] as 'uid' | 'type'] = field[2]!;
  }
  if (cur) out.push(cur as { name: string; uid: string; type: string });
  return out;
}

const provisioned = provisionedDatasources(datasourcesYaml);
const uids = new Set(provisioned.map((d) => d.uid));
const GRAFANA_BUILTIN = '-- Grafana --';

const recordFields = new Set(Object.keys(annotationRecordSchema.shape));
const streamLabels = new Set(Object.keys(recordLabels({ alertname: 'x', severity: 'x', status: 'firing' })));
/** The label that sets feedback lines (model/feedback.ts) apart in the same stream: a record query may exclude them by it. */
const FEEDBACK_LABEL = 'kind';

/** LogQL stream matchers of a selector, with their operator. */
function selectorMatchers(expr: string): { label: string; op: string; value: string }[] {
  const sel = /^\s*\{([^}]*)\}/.exec(expr)?.[1] ?? '';
  return [...sel.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((m) => ({ label: m[1]!, op: m[2]!, value: m[3]! }));
}

/** Whether a stream with these labels matches the selector (a missing label is "", regexes are anchored, as in Loki). */
function streamMatches(expr: string, labels: Record<string, string>): boolean {
  return selectorMatchers(expr).every(({ label, op, value }) => {
    const v = labels[label] ?? '';
    const re = () => new RegExp(`^(?:${value.replace(/\\\\/g, '\\')})$`).test(v);
    return op === '=' ? v === value : op === '!=' ? v !== value : op === '=~' ? re() : !re();
  });
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Every `datasource` object anywhere in the dashboard JSON. */
function datasourceRefs(node: unknown, out: DsRef[] = []): DsRef[] {
  if (Array.isArray(node)) node.forEach((n) => datasourceRefs(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'datasource' && v && typeof v === 'object') out.push(v as DsRef);
      else datasourceRefs(v, out);
    }
  }
  return out;
}

interface Query {
  where: string;
  lang: 'logql' | 'promql';
  expr: string;
}

function queries(): Query[] {
  const out: Query[] = [];
  const langOf = (ds?: DsRef): Query['lang'] | undefined =>
    ds?.uid === undefined ? undefined : provisioned.find((d) => d.uid === ds.uid)?.type === 'loki' ? 'logql' : 'promql';
  for (const p of allPanels(dashboard.panels)) {
    for (const t of p.targets ?? []) {
      const lang = langOf(t.datasource ?? p.datasource);
      if (t.expr && lang) out.push({ where: `panel "${p.title}" ${t.refId ?? ''}`, lang, expr: t.expr });
    }
  }
  for (const a of dashboard.annotations.list) {
    const lang = langOf(a.datasource);
    for (const expr of [a.expr, a.target?.expr]) if (expr && lang) out.push({ where: `annotation "${a.name}"`, lang, expr });
  }
  return out;
}

/** What one LogQL query refers to: stream selector labels, labels it extracts and uses, record fields it reads. */
function logqlNames(expr: string): { selector: [string, string][]; extracted: string[]; used: string[]; fields: string[] } {
  const sel = /^\s*\{([^}]*)\}/.exec(expr);
  const selector = [...(sel?.[1] ?? '').matchAll(/(\w+)\s*(?:=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(
    (m) => [m[1]!, m[2]!] as [string, string],
  );
  const pipeline = expr.slice(sel?.[0].length ?? 0).replace(/"(?:[^"\\]|\\.)*"/g, (s) => (/^"\w+"$/.test(s) ? s : '""'));
  const extracted: string[] = [];
  const fields: string[] = [];
  for (const m of pipeline.matchAll(/\|\s*json\b([^|]*)/g)) {
    const params = [...(m[1] ?? '').matchAll(/(\w+)\s*=\s*"([\w.[\]]+)"/g)];
    if (params.length === 0) extracted.push(...recordFields); // bare `| json` extracts every top-level field
    for (const p of params) {
      extracted.push(p[1]!);
      fields.push(p[2]!.split(/[.[]/)[0]!);
    }
  }
  const used = [
    ...[
      ...pipeline.matchAll(
        /\|\s*(?!json\b|logfmt\b|line_format\b|label_format\b|unwrap\b|pattern\b|regexp\b)(\w+)\s*(?:=~|!~|!=|==|=|>=|<=|>|<)/g,
      ),
    ].map((m) => m[1]!),
    ...[...pipeline.matchAll(/\{\{\s*\.(\w+)/g)].map((m) => m[1]!),
    ...[...pipeline.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) =>
      m[1]!
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ].filter((l) => l !== '__error__');
  return { selector, extracted, used, fields };
}

describe('Grafana provisioning', () => {
  it('provisions Prometheus, Loki and Tempo with fixed, distinct uids', () => {
    expect(provisioned.map((d) => [d.type, d.uid]).sort()).toEqual([
      ['loki', 'loki'],
      ['prometheus', 'prometheus'],
      ['tempo', 'tempo'],
    ]);
  });

  it('every cross-datasource link in the provisioning points at a provisioned uid', () => {
    const linked = [...datasourcesYaml.matchAll(/datasourceUid:\s*(\S+)/g)].map((m) => m[1]!);
    expect(linked.length).toBeGreaterThanOrEqual(3);
    expect(linked.filter((u) => !uids.has(u))).toEqual([]);
  });

  it('the Loki derived field finds the traceId in a record exactly as the publisher writes it', () => {
    const regex = /matcherRegex:\s*'([^']+)'/.exec(datasourcesYaml)?.[1];
    expect(regex).toBeDefined();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const line = JSON.stringify({
      fingerprint: 'ca1e646dc11e4a70',
      summary: 'x',
      traceId,
      relatedTraceIds: ['0af7651916cd43dd8448eb211c80319c'],
    });
    expect(new RegExp(regex!).exec(line)?.[1]).toBe(traceId);
    expect(recordFields.has('traceId')).toBe(true);
  });

  it('traces-to-logs queries the record stream by the trace id the record carries', () => {
    const query = /tracesToLogsV2:[\s\S]*?query:\s*'([^']+)'/.exec(datasourcesYaml)?.[1] ?? '';
    const names = logqlNames(query.replace('$${__trace.traceId}', 'abc'));
    expect(names.selector).toEqual([['job', RECORD_JOB_LABEL]]);
    expect(query).toContain('|= "$${__trace.traceId}"');
  });
});

describe('the "Alert annotations" dashboard', () => {
  const panels = allPanels(dashboard.panels);
  const exposed = exposedSeries();

  it('is titled as the docs and links say and has a stable uid', () => {
    expect(dashboard.title).toBe('Alert annotations');
    expect(dashboard.uid).toBe('alert-annotations');
  });

  it('every datasource uid it uses exists in the provisioning, data links included', () => {
    const refs = datasourceRefs(dashboard);
    expect(refs.length).toBeGreaterThan(5);
    expect(refs.filter((r) => r.uid !== GRAFANA_BUILTIN && !uids.has(r.uid ?? '(none)'))).toEqual([]);
    const linked = [...JSON.stringify(dashboard).matchAll(/"datasourceUid":"([^"]*)"/g)].map((m) => m[1]!);
    expect(linked).toEqual(['tempo']);
  });

  it('has the panels the issue lists: annotations table, record logs, health, and annotations on a time series', () => {
    const table = panels.find((p) => p.type === 'table' && p.title === 'Recent annotations');
    expect(table).toBeDefined();
    const shown = table!.transformations?.find((t) => t.id === 'filterFieldsByName')?.options as { include: { names: string[] } };
    expect(shown.include.names).toEqual([
      'Time',
      'alertname',
      'severity',
      'status',
      'summary',
      'rootCause',
      'narrator',
      'confidence',
      'traceId',
    ]);
    expect(panels.some((p) => p.type === 'logs' && p.datasource?.uid === 'loki')).toBe(true);
    const health = panels
      .filter((p) => p.datasource?.uid === 'prometheus')
      .flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''))
      .join('\n');
    for (const metric of [
      'alert_annotator_webhook_requests_total',
      'alert_annotator_queue_jobs',
      'alert_annotator_llm_request_duration_seconds_bucket',
      'alert_annotator_llm_request_duration_seconds_count',
    ]) {
      expect(health).toContain(metric);
    }
    const lokiAnnotations = dashboard.annotations.list.filter((a) => a.datasource.uid === 'loki');
    expect(lokiAnnotations.map((a) => a.name)).toEqual(['Annotated alerts', 'Resolved alerts']);
    expect(panels.some((p) => p.type === 'timeseries')).toBe(true);
  });

  it('every table column it keeps is a record field (or the entry time)', () => {
    for (const p of panels) {
      for (const t of p.transformations ?? []) {
        const names =
          t.id === 'filterFieldsByName'
            ? (t.options as { include: { names: string[] } }).include.names
            : t.id === 'organize'
              ? Object.keys((t.options as { indexByName: Record<string, number> }).indexByName)
              : [];
        expect({ panel: p.title, unknown: names.filter((n) => n !== 'Time' && !recordFields.has(n)) }).toEqual({
          panel: p.title,
          unknown: [],
        });
      }
    }
  });

  it('every LogQL query selects the record stream by its labels and names only fields the record has', () => {
    const logql = queries().filter((q) => q.lang === 'logql');
    expect(logql.length).toBeGreaterThanOrEqual(4);
    for (const q of logql) {
      const n = logqlNames(q.expr);
      const problems = [
        ...n.selector.filter(([l]) => !streamLabels.has(l) && l !== FEEDBACK_LABEL).map(([l]) => `selector label ${l}`),
        ...(n.selector.some(([l, v]) => l === 'job' && v === RECORD_JOB_LABEL) ? [] : ['no job selector']),
        ...n.fields.filter((f) => !recordFields.has(f)).map((f) => `record field ${f}`),
        ...n.used.filter((l) => !streamLabels.has(l) && !n.extracted.includes(l)).map((l) => `label ${l}`),
      ];
      expect({ where: q.where, problems }).toEqual({ where: q.where, problems: [] });
    }
  });

  it('record panels, annotations and variables leave out the feedback lines of the same stream, whatever the variables hold', () => {
    const feedback = feedbackLabels({ alertname: 'CheckoutLatencyHigh' });
    const record = recordLabels({ alertname: 'CheckoutLatencyHigh', severity: 'critical', status: 'firing' });
    const variables = (dashboard.templating.list as { name: string; query: unknown }[])
      .map((v) => ({ name: v.name, stream: (v.query as { stream?: string } | undefined)?.stream }))
      .filter((v) => v.stream);
    const recordQueries = [
      ...queries().filter((q) => q.lang === 'logql' && q.expr.includes(`job="${RECORD_JOB_LABEL}"`)),
      ...variables.map((v) => ({ where: `variable ${v.name}`, expr: v.stream! })),
    ];
    expect(recordQueries.length).toBeGreaterThanOrEqual(6);
    // The most permissive pick of every variable (a user's "All" may be ".*").
    const widest = (expr: string) => expr.replace(/\$\w+/g, '.*');
    const problems = recordQueries.flatMap((q) => [
      ...(streamMatches(widest(q.expr), feedback) ? [`${q.where}: matches feedback lines`] : []),
      ...(q.where.startsWith('annotation') || streamMatches(widest(q.expr), record) ? [] : [`${q.where}: misses the records`]),
    ]);
    expect(problems).toEqual([]);
    // The checker itself tells the two apart.
    expect(streamMatches('{job="alert-annotator", kind!="feedback"}', feedback)).toBe(false);
    expect(streamMatches('{job="alert-annotator", kind!="feedback"}', record)).toBe(true);
    expect(streamMatches('{job="alert-annotator", severity=~".*"}', feedback)).toBe(true);
  });

  it("a tenant variable filters every record query by the record's tenant", () => {
    const names = (dashboard as unknown as { templating: { list: { name: string }[] } }).templating.list.map((v) => v.name);
    expect(names).toContain('tenant');
    const logql = queries().filter((q) => q.lang === 'logql' && q.expr.includes(`job="${RECORD_JOB_LABEL}"`));
    const unfiltered = logql.filter((q) => !/\| tenant=~"\$tenant"/.test(q.expr) || !logqlNames(q.expr).extracted.includes('tenant'));
    expect(unfiltered.map((q) => q.where)).toEqual([]);
  });

  it('Loki annotation titles, texts and tags use only labels the query provides', () => {
    for (const a of dashboard.annotations.list.filter((x) => x.datasource.uid === 'loki')) {
      const n = logqlNames(a.expr ?? '');
      const available = new Set([...streamLabels, ...n.extracted]);
      const used = [...`${a.titleFormat ?? ''} ${a.textFormat ?? ''}`.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!);
      const tags = (a.tagKeys ?? '').split(',').filter(Boolean);
      expect(used.length).toBeGreaterThan(0);
      expect({ name: a.name, unknown: [...used, ...tags].filter((l) => !available.has(l)) }).toEqual({ name: a.name, unknown: [] });
      expect(a.target?.expr).toBe(a.expr);
    }
  });

  it('every PromQL query names metrics and labels that /metrics exposes (or Prometheus ALERTS)', () => {
    const promql = queries().filter((q) => q.lang === 'promql');
    expect(promql.length).toBeGreaterThanOrEqual(6);
    for (const q of promql) {
      const n = promqlNames(q.expr);
      expect(n.metrics.length).toBeGreaterThan(0);
      const labelsOfQuery = new Set(n.metrics.flatMap((m) => [...(exposed.get(m.name) ?? [])]));
      const problems = [
        ...n.metrics.filter((m) => !exposed.has(m.name)).map((m) => `metric ${m.name}`),
        ...n.metrics.flatMap((m) => m.labels.filter((l) => !exposed.get(m.name)?.has(l)).map((l) => `label ${m.name}{${l}}`)),
        ...n.grouping.filter((l) => !labelsOfQuery.has(l)).map((l) => `grouping label ${l}`),
      ];
      expect({ where: q.where, problems }).toEqual({ where: q.where, problems: [] });
    }
  });

  it('the query checkers catch a wrong name (so the checks above can fail)', () => {
    expect(logqlNames('{job="alert-annotator"} | json x="rootCouse"').fields).toEqual(['rootCouse']);
    expect(logqlNames('{job="alert-annotator"} | json | rootCouse="a"').used).toEqual(['rootCouse']);
    expect(promqlNames('sum by (code) (rate(alert_annotator_webhook_request_total{cod="200"}[5m]))')).toEqual({
      metrics: [{ name: 'alert_annotator_webhook_request_total', labels: ['cod'] }],
      grouping: ['code'],
    });
    expect(exposed.has('alert_annotator_webhook_request_total')).toBe(false);
  });
});
