import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import pino from 'pino';
import { loadConfig } from './config';
import { NoDedup } from './dedup';
import { evidenceBundleSchema, type EvidenceBundle } from './model/evidence';
import type { AnnotationRecord } from './model/record';
import { annotateGroup } from './pipeline';
import { SlackPreview } from './publish/preview';
import type { SlackMessage } from './publish/slack-blocks';
import { slackMessageText } from './publish/slack-text';
import { analyzeOptions } from './wiring';

/**
 * `alert-annotator demo`: the real pipeline (analysis, scrub, the deterministic narrator,
 * the Slack card) run in-process on the example incidents under examples/incidents/. No
 * Redis, Prometheus, Loki, Tempo or model; nothing is queried or posted. Prints the card an
 * on-call engineer would get for each, as text, or with `--json` the annotation records.
 */

/** The answer key the example bundles carry (examples/generate.ts); absent in other bundles. */
interface AnswerKey {
  fault?: string;
  rootCause: string | null;
  description?: string;
}

export interface DemoIncident {
  id: string;
  file: string;
  bundle: EvidenceBundle;
  key?: AnswerKey;
}

export interface DemoResult {
  incident: DemoIncident;
  records: AnnotationRecord[];
  messages: SlackMessage[];
}

/** examples/incidents/ beside src/ in the repository, or beside dist/ when built. */
export function examplesDir(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'examples', 'incidents');
    if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
    dir = dirname(dir);
  }
  throw new Error('examples/incidents/ not found next to the application');
}

function answerKey(raw: unknown): AnswerKey | undefined {
  const s = (raw as { scenario?: unknown }).scenario;
  if (typeof s !== 'object' || s === null || !('rootCause' in s)) return undefined;
  const k = s as Record<string, unknown>;
  return {
    rootCause: typeof k.rootCause === 'string' ? k.rootCause : null,
    ...(typeof k.fault === 'string' ? { fault: k.fault } : {}),
    ...(typeof k.description === 'string' ? { description: k.description } : {}),
  };
}

function loadFile(file: string): DemoIncident {
  const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
  const parsed = evidenceBundleSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${file} is not an evidence bundle (alert-annotator replay --save-evidence writes one)`);
  const key = answerKey(raw);
  return { id: basename(file, '.json'), file, bundle: parsed.data, ...(key ? { key } : {}) };
}

/** Incidents with a cause first, the no-fault ones last; by name within each. */
function byKind(a: DemoIncident, b: DemoIncident): number {
  const control = (i: DemoIncident) => Number(i.key?.rootCause === null);
  return control(a) - control(b) || a.id.localeCompare(b.id);
}

/**
 * The incidents to show: every shipped one, or the given bundle files, folders and names of
 * shipped incidents.
 */
export function loadIncidents(args: readonly string[] = []): DemoIncident[] {
  const shipped = () => examplesDir();
  const jsonIn = (dir: string) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => loadFile(join(dir, f)))
      .sort(byKind);
  if (args.length === 0) return jsonIn(shipped());
  return args.flatMap((a) => {
    if (existsSync(a)) return statSync(a).isDirectory() ? jsonIn(a) : [loadFile(a)];
    const named = join(shipped(), `${basename(a, '.json')}.json`);
    if (existsSync(named)) return [loadFile(named)];
    const names = readdirSync(shipped()).map((f) => basename(f, '.json'));
    throw new Error(`no incident ${a}: give a bundle file, or one of ${names.join(', ')}`);
  });
}

/** What the demo takes from the environment: only what changes the card (links, service labels). */
function demoConfig(env: Record<string, string | undefined>) {
  return loadConfig({ LLM_PROVIDER: 'none', GRAFANA_URL: env.GRAFANA_URL, SERVICE_LABELS: env.SERVICE_LABELS });
}

/** Runs one incident through the pipeline as the worker would, with nothing outside the process. */
export async function runIncident(incident: DemoIncident, env: Record<string, string | undefined> = {}): Promise<DemoResult> {
  const config = demoConfig(env);
  const now = () => new Date(incident.bundle.now);
  const preview = new SlackPreview({
    now,
    serviceLabels: config.SERVICE_LABELS,
    ...(config.GRAFANA_URL ? { grafanaUrl: config.GRAFANA_URL } : {}),
  });
  const outcome = await annotateGroup(
    incident.bundle.payload,
    {
      sources: [],
      publishers: [preview],
      dedup: new NoDedup(),
      log: pino({ level: 'warn' }, pino.destination(2)),
      analyzeOptions: analyzeOptions(config),
      now,
    },
    new AbortController().signal,
    { bundle: incident.bundle, owner: 'demo' },
  );
  return { incident, records: outcome.records, messages: preview.messages.map((m) => m.message) };
}

export interface DemoOptions {
  /** Bundle files, folders or names of shipped incidents; none: every shipped one. */
  incidents?: readonly string[];
  json?: boolean;
  write: (text: string) => void;
  color?: boolean;
  width?: number;
  env?: Record<string, string | undefined>;
}

function evidenceLine(b: EvidenceBundle): string {
  const lines = b.logs.reduce((n, s) => n + s.values.length, 0);
  const failed = (b.sources ?? []).filter((s) => s.status !== 'ok').map((s) => `${s.source} ${s.status}`);
  return (
    `Evidence: ${b.series.length} metric series, ${lines} log lines, ${b.traces.length} traces` +
    (failed.length ? ` (${failed.join(', ')})` : '')
  );
}

/** The answer key against the note: did it name the planted cause, or claim none when there was none? */
function verdictLine(r: DemoResult): string | undefined {
  const key = r.incident.key;
  if (!key) return undefined;
  const lead = r.records.find((x) => x.status === 'firing');
  const top = lead?.suspects[0]?.service;
  if (key.rootCause === null) {
    return lead?.confidence === 'low'
      ? `Answer key: nothing was wrong; the note claims no cause (confidence low). ✓`
      : `Answer key: nothing was wrong, but the note claims ${top ?? 'a cause'} (confidence ${lead?.confidence}). ✗`;
  }
  return top === key.rootCause
    ? `Answer key: ${key.rootCause}; the note's top suspect is ${top}. ✓`
    : `Answer key: ${key.rootCause}; the note's top suspect is ${top ?? 'nobody'}. ✗`;
}

function frame(text: string, width: number, title: string): string {
  const top = `┌─ ${title} ${'─'.repeat(Math.max(0, width - title.length - 3))}`;
  const body = text.split('\n').map((l) => (l ? `│ ${l}` : '│'));
  return [top, ...body, `└${'─'.repeat(width + 1)}`].join('\n');
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult[]> {
  const incidents = loadIncidents(opts.incidents);
  const width = Math.min(Math.max(opts.width ?? 100, 60), 120);
  const results: DemoResult[] = [];
  if (!opts.json) {
    const from = opts.incidents?.length ? 'the command line' : `${relative(process.cwd(), examplesDir()) || '.'}/`;
    opts.write(
      `alert-annotator demo: ${incidents.length} incident${incidents.length === 1 ? '' : 's'} from ${from}, each run through the real ` +
        `pipeline (analysis, scrubbing, the deterministic narrator, the Slack card). Nothing is queried or posted.\n\n`,
    );
  }
  for (const [i, incident] of incidents.entries()) {
    const result = await runIncident(incident, opts.env ?? process.env);
    results.push(result);
    if (opts.json) {
      for (const r of result.records) opts.write(`${JSON.stringify(r)}\n`);
      continue;
    }
    const head = [`━━ Incident ${i + 1} of ${incidents.length}: ${incident.id}  (${relative(process.cwd(), resolve(incident.file))})`];
    if (incident.key?.description) head.push(`Simulated: ${incident.key.description}`);
    head.push(evidenceLine(incident.bundle));
    const cards = result.messages.map((m) =>
      frame(slackMessageText(m, { width: width - 2, ...(opts.color ? { color: true } : {}) }), width - 2, 'Slack'),
    );
    const verdict = verdictLine(result);
    opts.write(`${[...head, '', ...cards, ...(verdict ? [verdict] : [])].join('\n')}\n\n`);
  }
  if (!opts.json) {
    opts.write(
      'The annotation records behind these cards: alert-annotator demo --json. One incident, as records: ' +
        'alert-annotator replay <bundle.json>.\n',
    );
  }
  return results;
}
