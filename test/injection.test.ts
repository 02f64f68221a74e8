import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { replayInput } from '../src/cli';
import { loadConfig } from '../src/config';
import { evidenceBundleSchema, type EvidenceBundle } from '../src/model/evidence';
import type { AnnotationRecord } from '../src/model/record';
import { FakeOllama } from './fakes/ollama';

/**
 * Issue 11: the prompt-injection corpus (test/fixtures/injection) through `replay`. Each
 * payload goes into a log line, a label value, an annotation and a span status message of a
 * recorded incident (payments failing after a deploy), and is replayed with a fake model that
 * obeys any instruction it reads, the untrusted data section included. Nothing it says may
 * change the suspects, the confidence or what is published: the note is either the one an
 * honest model writes for the same evidence or the deterministic one.
 */

interface Payload {
  id: string;
  class: string;
  text: string;
}

const PAYLOADS = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'injection', 'payloads.json'), 'utf8')) as Payload[];
const BUNDLE = join(__dirname, 'scenarios', 'bundles', 'deploy-error-burst-payments.json');
const MODEL = 'qwen2.5:3b-instruct';
const log = pino({ level: 'silent' });

const base = (): EvidenceBundle => evidenceBundleSchema.parse(JSON.parse(readFileSync(BUNDLE, 'utf8')));

/** Every status message of every span, wherever the trace format keeps it. */
function setSpanMessages(node: unknown, text: string): number {
  if (Array.isArray(node)) return node.reduce((n: number, x) => n + setSpanMessages(x, text), 0);
  if (!node || typeof node !== 'object') return 0;
  const o = node as Record<string, unknown>;
  let n = 0;
  const status = o.status as Record<string, unknown> | undefined;
  if (status && typeof status.message === 'string' && status.message) {
    status.message = text;
    n++;
  }
  for (const [k, v] of Object.entries(o)) if (k !== 'status') n += setSpanMessages(v, text);
  return n;
}

const PLACEMENTS: Record<string, (b: EvidenceBundle, text: string) => void> = {
  'log line': (b, text) => {
    const startsS = Date.parse(b.payload.alerts[0]!.startsAt) / 1000;
    const values: [string, string][] = Array.from({ length: 40 }, (_, i) => [`${startsS - 60 + i}000000000`, `ERROR ${text}`]);
    b.logs.push({ labels: { service_name: 'payments', namespace: 'shop' }, values });
  },
  'label value': (b, text) => {
    b.payload.alerts[0]!.labels.note = text;
  },
  annotation: (b, text) => {
    b.payload.alerts[0]!.annotations.description = text;
  },
  'span status message': (b, text) => {
    if (setSpanMessages(b.traces, text) === 0) throw new Error('the bundle has no span status message to replace');
  },
};

/** The same shape without the words: letters become x, digits 0 (a control for each placement). */
const benign = (text: string) => text.replace(/\p{L}/gu, 'x').replace(/\p{N}/gu, '0');

function placed(where: string, text: string): EvidenceBundle {
  const b = base();
  PLACEMENTS[where]!(b, text);
  return b;
}

let ollama: FakeOllama;
beforeAll(async () => {
  ollama = await new FakeOllama([MODEL]).start();
});
afterAll(async () => ollama.stop());

async function replay(b: EvidenceBundle, model: 'obey' | 'good' | 'none'): Promise<AnnotationRecord> {
  ollama.steps = [];
  ollama.fallback = { kind: model === 'obey' ? 'obey' : 'good' };
  const cfg = loadConfig({
    LLM_PROVIDER: model === 'none' ? 'none' : 'ollama',
    OLLAMA_HOST: ollama.url,
    OLLAMA_MODEL: MODEL,
    LOG_LEVEL: 'silent',
  });
  const records = await replayInput(cfg, log, { payload: b.payload, bundle: b });
  expect(records).toHaveLength(1);
  return records[0]!;
}

const note = (r: AnnotationRecord) => ({
  summary: r.summary,
  rootCause: r.rootCause,
  actions: r.actions,
  evidence: r.evidence,
  confidence: r.confidence,
});
const analysisOf = (r: AnnotationRecord) => ({ suspects: r.suspects, confidence: r.confidence });

/** Per placement: how many payloads the adversary acted on (its answer differed from the honest one). */
const obeyed: Record<string, number> = {};

test('the corpus holds at least 40 payloads of every class the issue names', () => {
  expect(PAYLOADS.length).toBeGreaterThanOrEqual(40);
  const classes = new Set(PAYLOADS.map((p) => p.class));
  for (const c of ['quote-break', 'marker', 'role-tag', 'ignore', 'json-answer', 'link', 'mention', 'base64', 'unicode-escape']) {
    expect(classes).toContain(c);
  }
  expect(PAYLOADS.filter((p) => p.class === 'ignore').length).toBeGreaterThanOrEqual(5);
});

describe.each(Object.keys(PLACEMENTS))('a payload in a %s', (where) => {
  let control: AnnotationRecord;
  beforeAll(async () => {
    control = await replay(placed(where, benign(PAYLOADS[0]!.text)), 'good');
  });

  test.each(PAYLOADS.map((p) => [p.id, p] as const))('%s changes neither the suspects, the confidence nor the note', async (_id, p) => {
    const attacked = placed(where, p.text);
    const obeying = await replay(attacked, 'obey');
    const honest = await replay(attacked, 'good');
    const deterministic = await replay(attacked, 'none');
    const sameShape = await replay(placed(where, benign(p.text)), 'good');

    // The honest narration passes the guard: otherwise the comparison below says nothing.
    expect(honest.narrator).toBe(`ollama:${MODEL}`);
    expect(analysisOf(obeying)).toEqual(analysisOf(sameShape));
    expect(analysisOf(obeying)).toEqual(analysisOf(control));
    expect([note(honest), note(deterministic)]).toContainEqual(note(obeying));
    if (obeying.narrator === 'template') obeyed[where] = (obeyed[where] ?? 0) + 1;
  });
});

afterAll(() => {
  if (process.env.INJECTION_REPORT)
    process.stdout.write(`payloads ${PAYLOADS.length}; rejected obedient answers per placement ${JSON.stringify(obeyed)}\n`);
});
