import { FakeHttpServer, type FakeReply, type RecordedRequest } from './http';

/**
 * A fake PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/overview/)
 * at `POST /v2/enqueue`: 202 with the dedup key on success, 400 "invalid event" with the
 * reasons in `errors`, and (forced with `failNext`, or until `recover()` with `failNext(reply, Infinity)`)
 * 429 throttling and 5xx.
 */

export const FAKE_ROUTING_KEY = 'R0123456789abcdef0123456789abcde';

type Json = Record<string, unknown>;

export interface FakeIncident {
  dedupKey: string;
  status: 'triggered' | 'resolved';
  /** Every event PagerDuty accepted for this key, in order. */
  events: Json[];
}

const SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);

export const PD_THROTTLED: FakeReply = {
  status: 429,
  body: { status: 'throttle event', message: 'Requests for this service are arriving too quickly. Please retry later.' },
};

export class FakePagerDuty extends FakeHttpServer {
  readonly incidents = new Map<string, FakeIncident>();
  private seq = 0;

  constructor() {
    super((req) => this.answer(req));
  }

  /** Accepted events, in order. */
  accepted(): Json[] {
    return [...this.incidents.values()].flatMap((i) => i.events);
  }

  private invalid(errors: string[]): FakeReply {
    return { status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors } };
  }

  private answer(req: RecordedRequest): FakeReply {
    if (req.path !== '/v2/enqueue') return { status: 404, body: { status: 'not found' } };
    if (req.method !== 'POST') return { status: 405, body: '' };
    const ev = req.json as Json | undefined;
    if (!ev || typeof ev !== 'object')
      return { status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors: ['Malformed JSON'] } };
    const errors: string[] = [];
    if (typeof ev.routing_key !== 'string' || ev.routing_key.length !== 32)
      errors.push("Length of 'routing_key' is incorrect (should be 32 characters)");
    if (!['trigger', 'acknowledge', 'resolve'].includes(String(ev.event_action)))
      errors.push("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')");
    const dedup = typeof ev.dedup_key === 'string' ? ev.dedup_key : undefined;
    if (dedup !== undefined && dedup.length > 255) errors.push("'dedup_key' is too long (must be 255 characters or fewer)");
    if (ev.event_action !== 'trigger' && !dedup) errors.push("'dedup_key' is missing or blank");
    if (ev.event_action === 'trigger') {
      const p = ev.payload as Json | undefined;
      if (!p) errors.push("'payload' is missing or blank");
      else {
        if (typeof p.summary !== 'string' || p.summary === '') errors.push("'payload.summary' is missing or blank");
        else if (p.summary.length > 1024) errors.push("'payload.summary' is too long (must be 1024 characters or fewer)");
        if (typeof p.source !== 'string' || p.source === '') errors.push("'payload.source' is missing or blank");
        if (!SEVERITIES.has(String(p.severity)))
          errors.push("'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')");
      }
      for (const l of (ev.links as Json[] | undefined) ?? [])
        if (typeof l.href !== 'string') errors.push("'links.href' is missing or blank");
    }
    if (Buffer.byteLength(JSON.stringify(ev)) > 512 * 1024) errors.push('Event object is too large (must be 512 KB or less)');
    if (errors.length) return this.invalid(errors);

    const key = dedup ?? `generated-${++this.seq}`;
    const incident = this.incidents.get(key) ?? { dedupKey: key, status: 'triggered' as const, events: [] };
    // A resolve for an unknown key is accepted and does nothing, as in PagerDuty.
    if (ev.event_action === 'resolve' && !this.incidents.has(key)) {
      return { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: key } };
    }
    incident.events.push(ev);
    if (ev.event_action === 'trigger') incident.status = 'triggered';
    if (ev.event_action === 'resolve') incident.status = 'resolved';
    this.incidents.set(key, incident);
    return { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: key } };
  }
}
