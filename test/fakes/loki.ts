import { FakeHttpServer, type FakeReply, type RecordedRequest } from './http';

/**
 * An in-process Loki that follows the real HTTP API and the limits measured on Loki 2.8
 * (docs/architecture.md): 204 on a good push; 400 for entries older than a week, over an hour
 * behind the stream's newest entry, over 10 minutes in the future, numeric timestamps,
 * more than 30 label names, label names that are not identifiers, an empty label set,
 * label values over 2048 chars, lines over max_line_size (256 KB), a missing Content-Type; 500 above 4 MiB. A batch with a
 * bad entry answers 400 but stores the good ones. Identical timestamp+line is stored once.
 * query_range understands stream selectors (=, !=, =~, !~) and line filters (|=, !=, |~, !~).
 */

export interface StoredEntry {
  ts: bigint;
  line: string;
}

interface Stream {
  /** The tenant (X-Scope-OrgID); `fake` when Loki runs without auth, as Loki calls it. */
  org: string;
  labels: Record<string, string>;
  entries: StoredEntry[];
}

const WEEK_NS = 7n * 24n * 3600n * 1_000_000_000n;
const HOUR_NS = 3600n * 1_000_000_000n;
const TEN_MIN_NS = 600n * 1_000_000_000n;
const MAX_BODY = 4 * 1024 * 1024;

function streamKey(labels: Record<string, string>, org = 'fake'): string {
  return `${org}\u0000${JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)))}`;
}

type Matcher = { name: string; op: '=' | '!=' | '=~' | '!~'; value: string };
type LineFilter = { op: '|=' | '!=' | '|~' | '!~'; value: string };

function unquote(s: string): string {
  if (s.startsWith('`')) return s.slice(1, -1);
  return JSON.parse(s) as string;
}

/** The part of LogQL the tests need; anything else is a 400 parse error, as Loki would say. */
export function parseLogQL(query: string): { matchers: Matcher[]; filters: LineFilter[] } {
  const m = /^\s*\{([^}]*)\}(.*)$/s.exec(query);
  if (!m) throw new Error(`parse error: expected a stream selector in ${JSON.stringify(query)}`);
  const matchers: Matcher[] = [];
  const selector = m[1]!;
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)\s*,?/gy;
  let mm: RegExpExecArray | null;
  let consumed = 0;
  while ((mm = re.exec(selector))) {
    matchers.push({ name: mm[1]!, op: mm[2] as Matcher['op'], value: unquote(mm[3]!) });
    consumed = re.lastIndex;
  }
  if (selector.slice(consumed).trim() !== '') throw new Error('parse error: bad stream selector');
  if (!matchers.some((x) => (x.op === '=' || x.op === '=~') && x.value !== '')) {
    throw new Error('parse error: queries require at least one matcher that does not match the empty string');
  }
  const filters: LineFilter[] = [];
  const rest = m[2]!;
  const fr = /\s*(\|=|!=|\|~|!~)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)/gy;
  consumed = 0;
  while ((mm = fr.exec(rest))) {
    filters.push({ op: mm[1] as LineFilter['op'], value: unquote(mm[2]!) });
    consumed = fr.lastIndex;
  }
  if (rest.slice(consumed).trim() !== '')
    throw new Error(`parse error: the fake Loki supports only line filters, got ${JSON.stringify(rest.slice(consumed).trim())}`);
  return { matchers, filters };
}

function matchLabels(labels: Record<string, string>, matchers: Matcher[]): boolean {
  return matchers.every(({ name, op, value }) => {
    const v = labels[name] ?? '';
    switch (op) {
      case '=':
        return v === value;
      case '!=':
        return v !== value;
      case '=~':
        return new RegExp(`^(?:${value})$`).test(v);
      case '!~':
        return !new RegExp(`^(?:${value})$`).test(v);
    }
  });
}

/** RE2 (Loki's regex engine) takes `(?i)` inline; JavaScript only takes it as a flag. */
function re2(value: string): RegExp {
  return value.startsWith('(?i)') ? new RegExp(value.slice(4), 'i') : new RegExp(value);
}

function matchLine(line: string, filters: LineFilter[]): boolean {
  return filters.every(({ op, value }) => {
    switch (op) {
      case '|=':
        return line.includes(value);
      case '!=':
        return !line.includes(value);
      case '|~':
        return re2(value).test(line);
      case '!~':
        return !re2(value).test(line);
    }
  });
}

export class FakeLoki extends FakeHttpServer {
  private readonly streams = new Map<string, Stream>();
  /** Clock of the fake, in ns; tests may move it. */
  nowNs: () => bigint = () => BigInt(Date.now()) * 1_000_000n;
  /**
   * Loki with `auth_enabled: true`: every request needs X-Scope-OrgID (401 "no org id"
   * otherwise) and each tenant sees only its own streams.
   */
  multiTenant = false;

  constructor() {
    super((req) => this.route(req));
  }

  /** Every stored entry with its stream labels, oldest first. */
  entries(selector: Record<string, string> = {}, org?: string): { labels: Record<string, string>; ts: bigint; line: string }[] {
    const out: { labels: Record<string, string>; ts: bigint; line: string }[] = [];
    for (const s of this.streams.values()) {
      if (org !== undefined && s.org !== org) continue;
      if (!Object.entries(selector).every(([k, v]) => s.labels[k] === v)) continue;
      for (const e of s.entries) out.push({ labels: s.labels, ...e });
    }
    return out.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  }

  /** The annotation records pushed by the service, parsed. */
  records(org?: string): Record<string, unknown>[] {
    return this.entries({ job: 'alert-annotator' }, org).map((e) => JSON.parse(e.line) as Record<string, unknown>);
  }

  /** Stores application log lines directly (as if another client had pushed them). */
  seed(labels: Record<string, string>, values: [string, string][], org?: string): void {
    for (const [ts, line] of values) this.store(labels, BigInt(ts), line, org);
  }

  private readonly pushFailures: (FakeReply | undefined)[] = [];
  /** Loki's `max_line_size` (256 KB by default in limits_config): a longer line is refused with 400. */
  maxLineBytes = 256 * 1024;

  /**
   * Answers the next `count` pushes (only pushes) with `reply`, e.g. an ingester outage;
   * `after` pushes are answered normally first.
   */
  failNextPushes(reply: FakeReply, count = 1, after = 0): void {
    for (let i = 0; i < after; i++) this.pushFailures.push(undefined);
    for (let i = 0; i < count; i++) this.pushFailures.push(reply);
  }

  /** Forgets everything stored and every scripted failure. */
  clear(): void {
    this.streams.clear();
    this.pushFailures.length = 0;
  }

  private store(labels: Record<string, string>, ts: bigint, line: string, org = 'fake'): void {
    const key = streamKey(labels, org);
    let s = this.streams.get(key);
    if (!s) this.streams.set(key, (s = { org, labels, entries: [] }));
    if (s.entries.some((e) => e.ts === ts && e.line === line)) return;
    s.entries.push({ ts, line });
  }

  /** The request's tenant; undefined when a multi-tenant Loki would refuse it. */
  private orgOf(req: RecordedRequest): string | undefined {
    const id = req.headers['x-scope-orgid'];
    const org = Array.isArray(id) ? id[0] : id;
    if (!this.multiTenant) return 'fake';
    return org && org.trim() !== '' ? org : undefined;
  }

  /**
   * Loki's query frontend refuses queries past `max_outstanding_requests_per_tenant` with
   * `429 too many outstanding requests`; unlimited unless a test sets it. Each query holds
   * its place for `queryLatencyMs`; `tooManyOutstanding` counts the refusals.
   */
  maxOutstanding = Infinity;
  queryLatencyMs = 0;
  tooManyOutstanding = 0;
  private outstanding = 0;

  private async route(req: RecordedRequest): Promise<FakeReply> {
    if (req.path.startsWith('/loki/') && this.orgOf(req) === undefined) return { status: 401, body: 'no org id\n' };
    if (req.method === 'POST' && req.path === '/loki/api/v1/push') return this.push(req);
    if (req.method === 'GET' && req.path === '/loki/api/v1/query_range') {
      if (this.outstanding >= this.maxOutstanding) {
        this.tooManyOutstanding++;
        return { status: 429, body: 'too many outstanding requests\n' };
      }
      this.outstanding++;
      try {
        if (this.queryLatencyMs) await new Promise((r) => setTimeout(r, this.queryLatencyMs).unref());
        return this.queryRange(req);
      } finally {
        this.outstanding--;
      }
    }
    if (req.method === 'GET' && req.path === '/ready') return { status: 200, body: 'ready\n' };
    return { status: 404, body: '404 page not found\n' };
  }

  private push(req: RecordedRequest): FakeReply {
    const org = this.orgOf(req)!;
    const failure = this.pushFailures.shift();
    if (failure) return failure;
    if (Buffer.byteLength(req.body) > MAX_BODY)
      return { status: 500, body: 'rpc error: code = ResourceExhausted desc = grpc: received message larger than max\n' };
    const ct = req.headers['content-type'];
    if (!ct) return { status: 400, body: 'unsupported Content-Type ""\n' };
    if (!ct.startsWith('application/json')) return { status: 415, body: `unsupported Content-Type ${JSON.stringify(ct)}\n` };
    const body = req.json as { streams?: unknown } | undefined;
    if (!body || !Array.isArray(body.streams)) return { status: 400, body: 'error parsing push request\n' };
    const errors: string[] = [];
    const now = this.nowNs();
    for (const raw of body.streams as { stream?: Record<string, unknown>; values?: unknown[] }[]) {
      const labels = raw.stream ?? {};
      const names = Object.keys(labels);
      if (names.length === 0) {
        errors.push('error at least one label pair is required per stream');
        continue;
      }
      if (names.length > 30) {
        errors.push(`entry for stream has ${names.length} label names; limit 30`);
        continue;
      }
      const badName = names.find((n) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n));
      if (badName) {
        errors.push(`error parsing labels: invalid label name ${JSON.stringify(badName)}`);
        continue;
      }
      const longValue = names.find((n) => String(labels[n]).length > 2048);
      if (longValue) {
        errors.push(`label value too long: ${longValue}`);
        continue;
      }
      const stringLabels = Object.fromEntries(names.map((n) => [n, String(labels[n])]));
      const key = streamKey(stringLabels, org);
      for (const v of raw.values ?? []) {
        if (!Array.isArray(v) || typeof v[0] !== 'string' || typeof v[1] !== 'string') {
          errors.push('error parsing push request: timestamps must be strings of nanoseconds');
          continue;
        }
        const ts = BigInt(v[0]);
        if (ts < now - WEEK_NS) {
          errors.push(`entry for stream has timestamp too old: ${v[0]}`);
          continue;
        }
        if (ts > now + TEN_MIN_NS) {
          errors.push(`entry for stream has timestamp too new: ${v[0]}`);
          continue;
        }
        if (Buffer.byteLength(v[1]) > this.maxLineBytes) {
          errors.push(
            `Max entry size '${this.maxLineBytes}' bytes exceeded for stream '${key}' while adding an entry with length '${Buffer.byteLength(v[1])}' bytes`,
          );
          continue;
        }
        const newest = this.streams.get(key)?.entries.reduce((m, e) => (e.ts > m ? e.ts : m), 0n) ?? 0n;
        if (newest - ts > HOUR_NS) {
          errors.push(`entry too far behind, oldest acceptable timestamp is: ${newest - HOUR_NS}`);
          continue;
        }
        this.store(stringLabels, ts, v[1], org);
      }
    }
    // Like Loki: the good entries are stored, the request still answers 400.
    if (errors.length) return { status: 400, body: `${errors.join('\n')}\n` };
    return { status: 204 };
  }

  private queryRange(req: RecordedRequest): FakeReply {
    const org = this.orgOf(req)!;
    const query = req.query.get('query');
    if (!query) return { status: 400, body: 'query parameter is required\n' };
    let parsed: ReturnType<typeof parseLogQL>;
    try {
      parsed = parseLogQL(query);
    } catch (err) {
      return { status: 400, body: `${(err as Error).message}\n` };
    }
    const now = this.nowNs();
    const end = req.query.get('end') ? BigInt(req.query.get('end')!) : now;
    const start = req.query.get('start') ? BigInt(req.query.get('start')!) : end - HOUR_NS;
    if (end < start) return { status: 400, body: 'end timestamp must not be before or equal to start time\n' };
    if (end - start > 721n * HOUR_NS) return { status: 400, body: 'the query time range exceeds the limit (query length: 721h)\n' };
    const limit = Number(req.query.get('limit') ?? '100');
    const backward = (req.query.get('direction') ?? 'backward') === 'backward';
    type Hit = { labels: Record<string, string>; ts: bigint; line: string };
    const hits: Hit[] = [];
    for (const s of this.streams.values()) {
      if (s.org !== org) continue;
      if (!matchLabels(s.labels, parsed.matchers)) continue;
      for (const e of s.entries) {
        if (e.ts >= start && e.ts < end && matchLine(e.line, parsed.filters)) hits.push({ labels: s.labels, ...e });
      }
    }
    hits.sort((a, b) => (a.ts === b.ts ? 0 : a.ts < b.ts === backward ? 1 : -1));
    const kept = hits.slice(0, limit);
    const grouped = new Map<string, { stream: Record<string, string>; values: [string, string][] }>();
    for (const h of kept) {
      const k = streamKey(h.labels);
      if (!grouped.has(k)) grouped.set(k, { stream: h.labels, values: [] });
      grouped.get(k)!.values.push([h.ts.toString(), h.line]);
    }
    return {
      status: 200,
      body: { status: 'success', data: { resultType: 'streams', result: [...grouped.values()], stats: {} } },
    };
  }
}
