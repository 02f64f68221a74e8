import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request as a fake server saw it. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
  /** The body's bytes as received (a file upload is binary; `body` is their UTF-8 reading). */
  raw: Buffer;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  /** Date.now() when the request arrived. */
  at: number;
}

export interface FakeReply {
  status: number;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  /** Wait this long before answering (to exercise timeouts). */
  delayMs?: number;
}

export type FakeHandler = (req: RecordedRequest) => FakeReply | Promise<FakeReply>;

/**
 * The base of every fake server in test/fakes: binds 127.0.0.1 on a free port, records
 * every request, and lets a test force the next answers (`failNext`) to exercise error paths.
 */
export class FakeHttpServer {
  readonly requests: RecordedRequest[] = [];
  /** Added to every answer, to make concurrent callers overlap. */
  latencyMs = 0;
  private server?: Server;
  private readonly forced: FakeReply[] = [];
  /** Answers every request after the forced ones while set (an outage). */
  private sticky: FakeReply | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly handler: FakeHandler) {}

  /**
   * Answers the next `count` requests with `reply` instead of the handler; `Infinity` keeps
   * answering so (an outage) until `recover()`.
   */
  failNext(reply: FakeReply, count = 1): void {
    if (count === Infinity) this.sticky = reply;
    else for (let i = 0; i < count; i++) this.forced.push(reply);
  }

  /** Ends forced answers, sticky ones included: the handler answers again. */
  recover(): void {
    this.forced.length = 0;
    this.sticky = undefined;
  }

  get url(): string {
    const addr = this.server?.address() as AddressInfo | null;
    if (!addr) throw new Error('fake server not started');
    return `http://127.0.0.1:${addr.port}`;
  }

  requestsTo(pathPrefix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.startsWith(pathPrefix));
  }

  /** Listens on `port` (0: any free one; a fixed one to come back where it was after stop()). */
  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const body = raw.toString('utf8');
    const u = new URL(req.url ?? '/', 'http://fake');
    let json: unknown;
    try {
      json = body ? JSON.parse(body) : undefined;
    } catch {
      json = undefined;
    }
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: u.pathname,
      query: u.searchParams,
      headers: req.headers,
      body,
      raw,
      json,
      at: Date.now(),
    };
    this.requests.push(recorded);
    let reply: FakeReply;
    try {
      reply = this.forced.shift() ?? this.sticky ?? (await this.handler(recorded));
    } catch (err) {
      reply = { status: 500, body: String(err) };
    }
    const delay = (reply.delayMs ?? 0) + this.latencyMs;
    // unref: a slow answer still pending must not keep the test process alive.
    if (delay) await new Promise((r) => setTimeout(r, delay).unref());
    if (res.destroyed) return;
    const headers = { ...(reply.headers ?? {}) };
    let payload = '';
    if (reply.body !== undefined) {
      if (typeof reply.body === 'string') payload = reply.body;
      else {
        payload = JSON.stringify(reply.body);
        headers['Content-Type'] ??= 'application/json';
      }
    }
    res.writeHead(reply.status, headers);
    res.end(payload);
  }
}
