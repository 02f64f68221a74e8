import { FakeHttpServer, type FakeReply, type RecordedRequest } from './http';

/**
 * An in-process Prometheus answering /api/v1/query_range and /api/v1/query_exemplars like
 * the real HTTP API (https://prometheus.io/docs/prometheus/latest/querying/api/): GET or a
 * form-encoded POST, RFC 3339 or unix times, durations or seconds for `step`, the same 400
 * `bad_data` answers for bad parameters (including the 11,000-points limit), and an empty
 * matrix for a query that matches nothing. PromQL itself is not evaluated: a test registers
 * which series a query returns.
 */

export type QueryMatcher = string | RegExp | ((query: string) => boolean);

export interface FakeSeries {
  metric: Record<string, string>;
  /** The value at a unix time in seconds; null leaves a gap, as a missing scrape does. */
  value: (t: number) => number | null;
}

export interface FakeExemplar {
  seriesLabels: Record<string, string>;
  traceId: string;
  value: number;
  /** Unix seconds. */
  timestamp: number;
}

const MAX_POINTS = 11000;

function matches(m: QueryMatcher, query: string): boolean {
  if (typeof m === 'string') return m === query;
  if (m instanceof RegExp) return m.test(query);
  return m(query);
}

function badData(error: string): FakeReply {
  return { status: 400, body: { status: 'error', errorType: 'bad_data', error } };
}

/** Prometheus time parameters: unix seconds (float) or RFC 3339. */
function parseTime(raw: string | null): number | undefined {
  if (raw === null) return undefined;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  const t = Date.parse(raw);
  return Number.isNaN(t) ? undefined : t / 1000;
}

/** `step`: seconds (float) or a Prometheus duration (`30s`, `1m`, `1h30m`). */
function parseStep(raw: string | null): number | undefined {
  if (raw === null) return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw);
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
  const re = /(\d+)(ms|s|m|h|d|w|y)/gy;
  let total = 0;
  let consumed = 0;
  let mm: RegExpExecArray | null;
  while ((mm = re.exec(raw))) {
    total += Number(mm[1]) * units[mm[2]!]!;
    consumed = re.lastIndex;
  }
  return consumed === raw.length && consumed > 0 ? total : undefined;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export class FakePrometheus extends FakeHttpServer {
  /**
   * `limit` (the most series a query returns) is honoured as Prometheus 2.54 and later do;
   * false answers as older versions, which ignore the parameter.
   */
  honoursLimit = true;
  private readonly series: { match: QueryMatcher; series: FakeSeries[] }[] = [];
  private readonly exemplarSets: { match: QueryMatcher; exemplars: FakeExemplar[] }[] = [];

  constructor() {
    super((req) => this.route(req));
  }

  /** Queries matching `match` return these series (later registrations win). */
  onQuery(match: QueryMatcher, series: FakeSeries[]): this {
    this.series.unshift({ match, series });
    return this;
  }

  onExemplars(match: QueryMatcher, exemplars: FakeExemplar[]): this {
    this.exemplarSets.unshift({ match, exemplars });
    return this;
  }

  /** The `query` parameter of every query_range call, in order. */
  rangeQueries(): string[] {
    return this.requestsTo('/api/v1/query_range').map((r) => this.params(r).get('query') ?? '');
  }

  params(req: RecordedRequest): URLSearchParams {
    if (req.method === 'POST') {
      const ct = String(req.headers['content-type'] ?? '');
      return ct.startsWith('application/x-www-form-urlencoded') ? new URLSearchParams(req.body) : new URLSearchParams();
    }
    return req.query;
  }

  private route(req: RecordedRequest): FakeReply {
    if (req.method !== 'GET' && req.method !== 'POST') return { status: 405, body: 'Method Not Allowed\n' };
    if (req.path === '/api/v1/query_range') return this.queryRange(this.params(req));
    if (req.path === '/api/v1/query_exemplars') return this.queryExemplars(this.params(req));
    if (req.path === '/-/ready') return { status: 200, body: 'Prometheus Server is Ready.\n' };
    return { status: 404, body: '404 page not found\n' };
  }

  private queryRange(p: URLSearchParams): FakeReply {
    const start = parseTime(p.get('start'));
    if (start === undefined)
      return badData(`invalid parameter "start": cannot parse ${JSON.stringify(p.get('start') ?? '')} to a valid timestamp`);
    const end = parseTime(p.get('end'));
    if (end === undefined)
      return badData(`invalid parameter "end": cannot parse ${JSON.stringify(p.get('end') ?? '')} to a valid timestamp`);
    if (end < start) return badData('invalid parameter "end": end timestamp must not be before start time');
    const step = parseStep(p.get('step'));
    if (step === undefined)
      return badData(`invalid parameter "step": cannot parse ${JSON.stringify(p.get('step') ?? '')} to a valid duration`);
    if (step <= 0)
      return badData('invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer');
    if ((end - start) / step > MAX_POINTS) {
      return badData('exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)');
    }
    const query = p.get('query') ?? '';
    if (!query.trim()) return badData('invalid parameter "query": 1:1: parse error: no expression found in input');
    const timeout = p.get('timeout');
    if (timeout !== null && !(parseStep(timeout)! > 0)) {
      return badData(`invalid parameter "timeout": cannot parse ${JSON.stringify(timeout)} to a valid duration`);
    }
    const limit = p.get('limit');
    if (limit !== null && !/^\d+$/.test(limit)) return badData(`invalid parameter "limit": cannot parse ${JSON.stringify(limit)}`);
    const found = this.series.find((s) => matches(s.match, query));
    const cap = this.honoursLimit && limit !== null && Number(limit) > 0 ? Number(limit) : Infinity;
    const result = (found?.series ?? [])
      .slice(0, cap)
      .map((s) => {
        const values: [number, string][] = [];
        for (let t = start; t <= end; t += step) {
          const v = s.value(t);
          if (v !== null) values.push([Math.round(t * 1000) / 1000, formatValue(v)]);
        }
        return { metric: s.metric, values };
      })
      .filter((s) => s.values.length > 0);
    return { status: 200, body: { status: 'success', data: { resultType: 'matrix', result } } };
  }

  private queryExemplars(p: URLSearchParams): FakeReply {
    const query = p.get('query') ?? '';
    if (!query.trim()) return badData('invalid parameter "query": 1:1: parse error: no expression found in input');
    const start = parseTime(p.get('start')) ?? -Infinity;
    const end = parseTime(p.get('end')) ?? Infinity;
    const found = this.exemplarSets.find((s) => matches(s.match, query));
    const bySeries = new Map<
      string,
      { seriesLabels: Record<string, string>; exemplars: { labels: Record<string, string>; value: string; timestamp: number }[] }
    >();
    for (const e of found?.exemplars ?? []) {
      if (e.timestamp < start || e.timestamp > end) continue;
      const key = JSON.stringify(e.seriesLabels);
      if (!bySeries.has(key)) bySeries.set(key, { seriesLabels: e.seriesLabels, exemplars: [] });
      bySeries.get(key)!.exemplars.push({ labels: { trace_id: e.traceId }, value: String(e.value), timestamp: e.timestamp });
    }
    return { status: 200, body: { status: 'success', data: [...bySeries.values()] } };
  }
}
