import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { OutboundError } from '../clients/http';
import { clipMrkdwn, slackText } from './slack-blocks';
import type { PublishEvent, PublishResult, Publisher } from './types';

/**
 * Noise control per route: at most `perMinute` new top-level Slack messages a minute. Past
 * it, a group gets no message of its own; one roll-up message per route and minute lists
 * those groups and is updated as more arrive, instead of a flood. A rolled-up group's later
 * events (narration, resolve) stay out of Slack; its records still go to Loki as usual, so
 * the Grafana panel has every note. Updates of groups that already have a message are never
 * counted or held back.
 */
export interface RollupTarget {
  postText(text: string, signal: AbortSignal): Promise<{ channel: string; ts: string }>;
  updateText(ref: { channel: string; ts: string }, text: string, signal: AbortSignal): Promise<void>;
}

export interface RollupOptions {
  redis: Redis;
  /** Key prefix (QUEUE_PREFIX); keys are per route. */
  prefix: string;
  route: string;
  perMinute: number;
  log: Logger;
  now?: () => Date;
}

const DAY_S = 24 * 3600;
/** Lines listed in the roll-up before "…and N more": a message stays readable and in Slack's limits. */
const MAX_LINES = 30;

const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 24);

export class RateLimitedSlack implements Publisher {
  readonly name = 'slack' as const;
  constructor(
    private readonly inner: Publisher & RollupTarget,
    private readonly opts: RollupOptions,
  ) {}

  private key(...parts: string[]): string {
    return [this.opts.prefix, 'rollup', this.opts.route, ...parts].join(':');
  }

  async publish(event: PublishEvent, signal: AbortSignal): Promise<PublishResult> {
    const { redis } = this.opts;
    const group = hash(event.payload.groupKey);
    const member = await redis.get(this.key('member', group));
    if (member !== null) {
      // Rolled up: new alerts of the group refresh its line; nothing else goes to Slack.
      if (event.kind === 'initial') await this.addLine(member, group, event, signal);
      return { target: 'slack', published: false };
    }
    if (event.kind !== 'initial') return this.inner.publish(event, signal);
    // Only a group's first message counts against the cap; a retry of it is not counted again.
    const first = await redis.set(this.key('seen', group), '1', 'EX', 8 * DAY_S, 'NX');
    if (first === null) return this.inner.publish(event, signal);
    const minute = String(Math.floor((this.opts.now?.() ?? new Date()).getTime() / 60_000));
    const countKey = this.key('count', minute);
    const n = await redis.incr(countKey);
    await redis.expire(countKey, 180);
    if (n <= this.opts.perMinute) return this.inner.publish(event, signal);
    await redis.set(this.key('member', group), minute, 'EX', 8 * DAY_S);
    this.opts.log.info({ route: this.opts.route, perMinute: this.opts.perMinute }, 'slack cap reached: group listed in the roll-up');
    await this.addLine(minute, group, event, signal);
    return { target: 'slack', published: true };
  }

  /** Adds (or refreshes) the group's line and posts or updates the minute's roll-up message. */
  private async addLine(minute: string, group: string, event: PublishEvent, signal: AbortSignal): Promise<void> {
    const { redis } = this.opts;
    const lines = this.key('lines', minute);
    const lead = event.records[0];
    const name = event.payload.commonLabels.alertname ?? lead?.alertname ?? 'alert';
    const count = event.records.length;
    const line = `• *${slackText(name)}* (${count} alert${count === 1 ? '' : 's'}, ${slackText(lead?.severity ?? 'unknown')}): ${slackText((lead?.summary ?? '').slice(0, 160))}`;
    await redis.multi().hset(lines, group, line).expire(lines, DAY_S).exec();
    const all = Object.values(await redis.hgetall(lines));
    const text = [
      `🔕 Route *${slackText(this.opts.route)}*: more than ${this.opts.perMinute} new alert groups this minute. ${all.length} more are listed here instead of one message each; every note is in Loki and the Grafana dashboard.`,
      ...all.slice(0, MAX_LINES),
      ...(all.length > MAX_LINES ? [`…and ${all.length - MAX_LINES} more`] : []),
    ].join('\n');
    const clipped = clipMrkdwn(text, 3800);
    const msgKey = this.key('msg', minute);
    const known = await redis.get(msgKey);
    if (known) {
      await this.inner.updateText(JSON.parse(known) as { channel: string; ts: string }, clipped, signal);
      return;
    }
    // One worker posts the minute's roll-up; another that races it retries and then updates.
    const lock = await redis.set(this.key('msg-lock', minute), '1', 'EX', 30, 'NX');
    if (lock === null) throw new OutboundError('slack', 'rate_limited', 'another worker is posting this roll-up', undefined, 1000);
    const ref = await this.inner.postText(clipped, signal);
    await redis.set(msgKey, JSON.stringify(ref), 'EX', DAY_S);
  }
}
