import { connect } from 'node:net';
import request from 'supertest';
import { LokiClient } from '../src/clients/loki';
import { LokiAnnotationIndex } from '../src/dedup/loki-index';
import { alertKey, capValue, MAX_ANNOTATION_VALUE_BYTES, MAX_LABEL_VALUE_BYTES, webhookPayloadSchema } from '../src/model/alert';
import { FakeLoki } from './fakes/loki';
import { fixture, startTestService, type TestService } from './helpers/service';

/**
 * Issue 10, findings 6, 8 and 10 (dates): what can never be stored or computed is answered
 * 4xx with a reason (Alertmanager never retries a 4xx), not 503 (which it retries forever),
 * and a refused body's answer can be read by the client.
 */

const LIMIT = 65_536;

function body(): Record<string, unknown> & { alerts: Record<string, unknown>[] } {
  return structuredClone(fixture('am-webhook-01').body) as Record<string, unknown> & { alerts: Record<string, unknown>[] };
}

describe('timestamps', () => {
  it.each([
    ['2025-19-45T99:99:99Z'],
    ['2025-02-30T10:00:00Z'],
    ['2023-02-29T10:00:00Z'],
    ['2025-04-31T10:00:00Z'],
    ['2025-01-01T24:00:00Z'],
    ['2025-01-01T10:60:00Z'],
    ['2025-01-01T10:00:00+25:00'],
  ])('%s is not a real date and time: the schema refuses it', (ts) => {
    const b = body();
    b.alerts[0]!.startsAt = ts;
    const r = webhookPayloadSchema.safeParse(b);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['alerts', 0, 'startsAt']);
  });

  it.each([['2024-02-29T10:00:00Z'], ['2025-12-31T23:59:59.999999999+05:30'], ['0001-01-01T00:00:00Z']])('%s is accepted', (ts) => {
    const b = body();
    b.alerts[0]!.startsAt = ts;
    b.alerts[0]!.endsAt = ts;
    expect(webhookPayloadSchema.safeParse(b).success).toBe(true);
  });

  it('a startsAt that does not parse (a record read back from storage) does not break the Loki dedup query', async () => {
    const loki = await new FakeLoki().start();
    try {
      const index = new LokiAnnotationIndex(new LokiClient({ url: loki.url }));
      const found = await index.annotated([{ fingerprint: 'abc', startsAt: '2025-19-45T99:99:99Z', status: 'firing' }]);
      expect(found.size).toBe(0);
      expect(loki.requestsTo('/loki/api/v1/query_range')).toHaveLength(1);
    } finally {
      await loki.stop();
    }
  });
});

describe('label and annotation values', () => {
  it('a label value over 4 KiB is cut with a marker, not refused; identity (fingerprint, groupKey, alertKey) is untouched', () => {
    const b = body();
    const alert = b.alerts[0]!;
    const long = `pod=${'é'.repeat(50_000)}`;
    alert.labels = { ...(alert.labels as Record<string, string>), pod: long };
    b.commonLabels = { ...(b.commonLabels as Record<string, string>), pod: long };
    const parsed = webhookPayloadSchema.parse(b);
    for (const value of [parsed.alerts[0]!.labels.pod!, parsed.commonLabels.pod!]) {
      expect(Buffer.byteLength(value)).toBeLessThanOrEqual(MAX_LABEL_VALUE_BYTES);
      expect(value).toMatch(/^pod=é+…\[cut \d+ bytes\]$/);
      const cut = Number(/cut (\d+) bytes/.exec(value)![1]);
      expect(Buffer.byteLength(value.replace(/…\[cut \d+ bytes\]$/, '')) + cut).toBe(Buffer.byteLength(long));
    }
    expect(parsed.alerts[0]!.fingerprint).toBe(alert.fingerprint);
    expect(parsed.groupKey).toBe(b.groupKey);
    expect(alertKey(parsed.alerts[0]!)).toBe(alertKey({ fingerprint: String(alert.fingerprint), startsAt: String(alert.startsAt) }));
    // Read back (a job's data, a stored record), the cut value parses to itself.
    expect(webhookPayloadSchema.parse(parsed)).toEqual(parsed);
  });

  it('an annotation value is cut at 16 KiB; shorter values and labels are kept as sent', () => {
    const b = body();
    const alert = b.alerts[0]!;
    alert.annotations = { description: 'd'.repeat(100_000), summary: 's'.repeat(MAX_LABEL_VALUE_BYTES * 2) };
    const labels = { ...(alert.labels as Record<string, string>), exact: 'x'.repeat(MAX_LABEL_VALUE_BYTES) };
    alert.labels = labels;
    const parsed = webhookPayloadSchema.parse(b);
    expect(Buffer.byteLength(parsed.alerts[0]!.annotations.description!)).toBeLessThanOrEqual(MAX_ANNOTATION_VALUE_BYTES);
    expect(parsed.alerts[0]!.annotations.description).toMatch(/…\[cut \d+ bytes\]$/);
    expect(parsed.alerts[0]!.annotations.summary).toBe('s'.repeat(MAX_LABEL_VALUE_BYTES * 2));
    expect(parsed.alerts[0]!.labels).toEqual(labels);
  });

  it('never splits a character, whatever the cut point', () => {
    for (const unit of ['a', 'é', '€', '😀']) {
      for (let n = 4080; n < 4110; n++) {
        const v = capValue(`${'a'.repeat(n % 4)}${unit.repeat(2000)}`, 4096);
        expect(Buffer.byteLength(v)).toBeLessThanOrEqual(4096);
        expect(v).not.toContain('\ufffd');
        expect(capValue(v, 4096)).toBe(v);
      }
    }
  });
});

describe('payloads that can never be stored', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ ROLE: 'receiver', WEBHOOK_MAX_BODY_BYTES: String(LIMIT) });
  });
  afterAll(async () => svc.stop());

  it('a valid payload with a 10,000-deep unknown field gets 400 naming the nesting, not 503', async () => {
    const b = body();
    b.groupKey = `${String(b.groupKey)}-deep`;
    const text = JSON.stringify(b).replace(/}$/, `,"extra":${'['.repeat(10_000)}${']'.repeat(10_000)}}`);
    const res = await request(svc.url).post('/webhook/alertmanager').set('Content-Type', 'application/json').send(text);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('nesting_too_deep');
    expect(res.body.message).toMatch(/nest/);
  });

  it('accepts an alert whose label value is 36 KB (Alertmanager sets no limit): 200, not 400', async () => {
    const b = body();
    b.groupKey = `${String(b.groupKey)}-long-label`;
    b.alerts[0]!.labels = { ...(b.alerts[0]!.labels as Record<string, string>), stack: 'frame\n'.repeat(6_000) };
    const res = await request(svc.url).post('/webhook/alertmanager').send(b);
    expect(res.status).toBe(200);
  });

  it('keeps accepting ordinary nesting', async () => {
    const b = body();
    b.groupKey = `${String(b.groupKey)}-nested-ok`;
    b.extra = { a: { b: { c: [[[{ d: 1 }]]] } } };
    expect((await request(svc.url).post('/webhook/alertmanager').send(b)).status).toBe(200);
  });

  it('a body over the limit sent with Content-Length gets a 413 the client can read, even a client that reads only after sending', async () => {
    const b = body();
    b.alerts[0]!.annotations = { description: 'x'.repeat(8 * 1024 * 1024) };
    const text = Buffer.from(JSON.stringify(b));
    const url = new URL(svc.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname);
      // Like a client that writes the whole request before it looks at the answer.
      socket.pause();
      let data = '';
      socket.on('data', (c: Buffer) => (data += c.toString('utf8')));
      socket.on('error', (err) => reject(new Error(`${err.message} after reading ${data.length} bytes`)));
      socket.write(
        `POST /webhook/alertmanager HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: ${text.length}\r\n\r\n`,
      );
      socket.write(text, () => {
        socket.resume();
        const done = setInterval(() => {
          if (!data.includes('}')) return;
          clearInterval(done);
          socket.destroy();
          resolve(data);
        }, 10);
      });
    });
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: 'payload_too_large' });
  });
});
