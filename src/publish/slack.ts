import type { Logger } from 'pino';
import { httpRequest, OutboundError } from '../clients/http';
import { allResolved, mergeView, type ViewChange } from './group-view';
import { honourRetryAfter } from './retry';
import type { LogLinkOptions } from './links';
import { routeRecords, type Severity } from './routing';
import { SlackApiError, SlackWebApi } from './slack-api';
import { buildSlackMessage, narrationReply, newAlertsReply, resolvedReply, type SlackMessage } from './slack-blocks';
import {
  eventId,
  groupDigest,
  lockLapsed,
  whileHeld,
  type GroupState,
  type HeldLock,
  type PublishState,
  type SlackIntent,
  type SlackRef,
} from './state';
import type { PublishEvent, PublishResult, Publisher } from './types';

/**
 * Slack, two ways (docs/architecture.md, "publish"):
 * - bot token: chat.postMessage once per group, then chat.update of that message and a
 *   thread reply for the history (new alerts, narration follow-up, resolve);
 * - incoming webhook: one message per event (webhooks cannot edit).
 * Both remember, per group, what they already delivered, so a job retried after the post
 * never posts again.
 */

const TARGET = 'slack';

/** Errors after which the remembered message cannot be updated, so a new one is posted. */
const MESSAGE_GONE = new Set(['message_not_found', 'channel_not_found', 'cant_update_message', 'edit_window_closed', 'is_archived']);

export interface SlackCommonOptions {
  minSeverity: Severity;
  grafanaUrl?: string;
  /** Label names that name the service, in order (SERVICE_LABELS, parsed once in wiring). */
  serviceLabels: readonly string[];
  /** LOKI_STREAM_LABELS and LOKI_LOG_FILTER for the Logs link. */
  logs?: LogLinkOptions;
  /** The card carries buttons (SLACK_SIGNING_SECRET set: POST /slack/interactions answers them). */
  interactive?: boolean;
  timeoutMs?: number;
  now?: () => Date;
  log?: Logger;
}

export interface SlackBotOptions extends SlackCommonOptions {
  /**
   * Finds the group's message ts in the durable record (Loki) when the state in Redis is
   * gone, so a resolve or narration after a flush updates it instead of posting a new one.
   */
  findTs?: (event: PublishEvent, signal: AbortSignal) => Promise<{ ts: string; channel?: string } | undefined>;
  token: string;
  /**
   * Channel id (C…) or name; the id is what chat.update and conversations.history need, and
   * what postMessage answers with (a name works for those once a post answered with its id).
   */
  channel: string;
  apiUrl: string;
  /**
   * How long after an unanswered post it may still land in Slack (default: the call
   * timeout + 5 s). A retry inside that window that does not find the message in the
   * channel's history waits instead of posting.
   */
  inFlightMs?: number;
}

export interface SlackWebhookOptions extends SlackCommonOptions {
  webhookUrl: string;
}

/** One event's delivery: what to send, and what is remembered of the group so far. */
interface Delivery {
  /** The (tenant-qualified) group key. */
  group: string;
  event: PublishEvent;
  change: ViewChange;
  message: SlackMessage;
  /** The group's message, when one was posted before. */
  ref: SlackRef | undefined;
  /** A first post whose outcome was never learnt (bot mode). */
  intent: SlackIntent | undefined;
  lock: HeldLock;
  /** False after a state flush: every alert then looks new, so the thread is not told. */
  hadView: boolean;
  now: Date;
  signal: AbortSignal;
}

/** What a delivery leaves to remember: the message ts (bot mode) and the state to save with the event's marker. */
interface Delivered {
  ts?: string;
  channel?: string;
  patch: GroupState;
}

/** The part both modes share: routing, the group lock and the per-event marker. */
abstract class SlackPublisherBase implements Publisher {
  readonly name = 'slack' as const;
  constructor(
    protected readonly state: PublishState,
    protected readonly opts: SlackCommonOptions,
  ) {}

  async publish(event: PublishEvent, signal: AbortSignal): Promise<PublishResult> {
    const records = routeRecords(event.records, this.opts.minSeverity);
    if (records.length === 0) return { target: TARGET, published: false };
    const group = event.payload.groupKey;
    const marker = `${TARGET}:${eventId(event.kind, records, event.nonce)}`;
    return this.state.withLock(group, TARGET, signal, async (lock) => {
      const { state: known, done } = await this.state.load(group, marker);
      if (done) {
        this.opts.log?.debug({ target: TARGET, kind: event.kind }, 'slack: event already delivered, not posting again');
        return {
          target: TARGET,
          published: false,
          ...(known.slack ? { slackTs: known.slack.ts, slackChannel: known.slack.channel } : {}),
        };
      }
      const change = mergeView(known.view, records);
      const now = this.opts.now?.() ?? new Date();
      // Once every alert resolved, the message's summary is the resolve's own text; the lead keeps the narrative.
      const shown =
        allResolved(change.view) && change.view.resolution
          ? { ...change.view, lead: { ...change.view.lead, summary: change.view.resolution } }
          : change.view;
      const message = buildSlackMessage(shown, event.payload, {
        now,
        ...(this.opts.grafanaUrl ? { grafanaUrl: this.opts.grafanaUrl } : {}),
        serviceLabels: this.opts.serviceLabels,
        ...(this.opts.logs ? { logs: this.opts.logs } : {}),
        ...(this.opts.interactive ? { interactive: true } : {}),
      });
      const delivered = await this.deliver({
        group,
        event,
        change,
        message,
        ref: known.slack,
        intent: known.slackIntent,
        lock,
        hadView: known.view !== undefined,
        now,
        signal,
      });
      // The message ts, the view and the marker in one write: a retry finds all of them or none.
      await this.state.save(group, delivered.patch, marker);
      return {
        target: TARGET,
        published: true,
        ...(delivered.ts ? { slackTs: delivered.ts } : {}),
        ...(delivered.channel ? { slackChannel: delivered.channel } : {}),
      };
    });
  }

  protected abstract deliver(d: Delivery): Promise<Delivered>;
}

/**
 * Every group message carries Slack message metadata (https://docs.slack.dev/messaging/message-metadata):
 * this event type and the group key's digest, never the key itself (label values).
 */
export const GROUP_EVENT_TYPE = 'alert_annotator_group';

export function groupMetadata(groupKey: string): { event_type: string; event_payload: { group: string } } {
  return { event_type: GROUP_EVENT_TYPE, event_payload: { group: groupDigest(groupKey) } };
}

/** conversations.history from the first attempt minus this (our clock against Slack's). */
const HISTORY_SKEW_MS = 120_000;
const HISTORY_PAGE = 200;
const HISTORY_MAX_PAGES = 5;
/** Lookups that failed in a retryable way (rate limits, outages) before posting anyway: the group must not be lost. */
const MAX_FAILED_LOOKUPS = 3;
/** One warning per reason per this, not one per group. */
const WARN_EVERY_MS = 10 * 60_000;
const CHANNEL_ID = /^[CGD][A-Z0-9]{6,}$/;

/** The lookup cannot be done at all (scope, membership, a channel name): post, at least once. */
const LOOKUP_IMPOSSIBLE = new Set(['missing_scope', 'not_in_channel', 'channel_not_found', 'not_allowed_token_type', 'no_permission']);

export class SlackBotPublisher extends SlackPublisherBase {
  private readonly api: SlackWebApi;
  /** The channel id, once known (configured as an id, or answered by a post). */
  private channelId: string | undefined;
  private readonly warned = new Map<string, number>();
  constructor(
    state: PublishState,
    private readonly bot: SlackBotOptions,
  ) {
    super(state, bot);
    this.api = new SlackWebApi({
      token: bot.token,
      apiUrl: bot.apiUrl,
      timeoutMs: bot.timeoutMs ?? 10_000,
      ...(bot.log ? { log: bot.log } : {}),
    });
    if (CHANNEL_ID.test(bot.channel)) this.channelId = bot.channel;
  }

  protected async deliver(d: Delivery): Promise<Delivered> {
    const { event, change, message, ref: remembered, intent, hadView, now, signal } = d;
    // After a Redis flush the Loki records still carry the ts (the pipeline copies it in).
    // Only for later events: a first note has no message to find, and must not wait for Loki.
    const carried = event.records.find((r) => r.slackTs);
    const recovered = carried?.slackTs
      ? { ts: carried.slackTs, ...(carried.slackChannel ? { channel: carried.slackChannel } : {}) }
      : remembered || event.kind === 'initial'
        ? undefined
        : await this.bot.findTs?.(event, signal);
    let ref = remembered ?? (recovered ? { channel: recovered.channel ?? this.bot.channel, ts: recovered.ts } : undefined);
    // An earlier attempt wrote its intent and never its ts: it may have posted. Look first.
    if (!ref && intent) ref = await this.findEarlierPost(d.group, intent, signal);
    const metadata = groupMetadata(d.group);
    if (ref) {
      try {
        await this.call(
          'chat.update',
          { channel: ref.channel, ts: ref.ts, text: message.text, blocks: message.blocks, metadata },
          signal,
          d.lock,
        );
      } catch (err) {
        if (!(err instanceof SlackApiError && MESSAGE_GONE.has(err.code))) throw err;
        this.opts.log?.warn({ target: TARGET, error: err.message }, 'slack: the group message cannot be updated; posting a new one');
        ref = undefined;
      }
    }
    if (!ref) {
      let attempt = intent?.attempt ?? 0;
      const answer = await honourRetryAfter(async () => {
        // Right before each post: the lock is still ours, and the intent is on record.
        if (!d.lock.held()) throw lockLapsed(TARGET, 'posting');
        const at = Date.now();
        attempt++;
        const written: SlackIntent = {
          channel: this.channelId ?? this.bot.channel,
          firstAt: intent?.firstAt ?? at,
          at,
          attempt,
          lookups: 0,
        };
        await this.state.save(d.group, { slackIntent: written });
        // Renewed after every await before the post: this process may have been paused in one
        // of them while another worker took the group over and posted. whileHeld refuses the
        // post when the lease ended, now or before the request is written.
        await d.lock.confirm();
        return whileHeld(d.lock, TARGET, 'posting', () =>
          this.api.call(
            'chat.postMessage',
            {
              channel: this.bot.channel,
              text: message.text,
              blocks: message.blocks,
              metadata,
              unfurl_links: false,
              unfurl_media: false,
              link_names: false,
              parse: 'none',
            },
            signal,
          ),
        ).catch(async (err: unknown) => {
          // Slack answered (an error): this post is not on its way, so a retry that does not find it need not wait.
          if (err instanceof OutboundError && err.status !== undefined)
            await this.state.save(d.group, { slackIntent: { ...written, answered: true } }).catch(() => undefined);
          throw err;
        });
      }, signal);
      if (typeof answer.ts !== 'string') throw new OutboundError(TARGET, 'bad_response', 'chat.postMessage answered ok without a ts', 200);
      ref = { channel: typeof answer.channel === 'string' ? answer.channel : this.bot.channel, ts: answer.ts };
      if (CHANNEL_ID.test(ref.channel)) this.channelId = ref.channel;
      // Nothing may fail between the post and saving its ts (the caller does at once); if it
      // does, the intent written above sends the retry to the channel's history first.
      return { ts: ref.ts, channel: ref.channel, patch: { slack: ref, view: change.view } };
    }
    if (CHANNEL_ID.test(ref.channel)) this.channelId ??= ref.channel;
    const reply = threadReply(event.kind, change, hadView, now);
    if (reply)
      await this.call(
        'chat.postMessage',
        { channel: ref.channel, thread_ts: ref.ts, text: reply, unfurl_links: false, unfurl_media: false },
        signal,
        d.lock,
      );
    return { ts: ref.ts, channel: ref.channel, patch: { slack: ref, view: change.view } };
  }

  /**
   * The message an earlier attempt posted for this group, from the channel's history by its
   * metadata (conversations.history with include_all_metadata, from the first attempt's
   * time, a bounded number of pages). Undefined: not there, post. Throws a retryable error
   * when the answer is not known yet (a post that may still land, a lookup that failed).
   * Without the history scope the lookup cannot be done: one warning, and post (at least once).
   */
  private async findEarlierPost(group: string, intent: SlackIntent, signal: AbortSignal): Promise<SlackRef | undefined> {
    const channel = CHANNEL_ID.test(intent.channel) ? intent.channel : (this.channelId ?? intent.channel);
    const digest = groupDigest(group);
    let found: SlackRef | undefined;
    try {
      let cursor: string | undefined;
      for (let page = 0; page < HISTORY_MAX_PAGES; page++) {
        const answer = await honourRetryAfter(
          () =>
            this.api.call(
              'conversations.history',
              {
                channel,
                oldest: ((intent.firstAt - HISTORY_SKEW_MS) / 1000).toFixed(6),
                limit: HISTORY_PAGE,
                include_all_metadata: true,
                ...(cursor ? { cursor } : {}),
              },
              signal,
            ),
          signal,
        );
        const messages = Array.isArray(answer.messages) ? (answer.messages as Record<string, unknown>[]) : [];
        // Newest first: the last match on a page is the oldest, the group's first message.
        for (const m of messages) {
          const meta = m.metadata as { event_type?: unknown; event_payload?: { group?: unknown } } | undefined;
          if (meta?.event_type === GROUP_EVENT_TYPE && meta.event_payload?.group === digest && typeof m.ts === 'string')
            found = { channel, ts: m.ts };
        }
        const next = (answer.response_metadata as { next_cursor?: unknown } | undefined)?.next_cursor;
        if (answer.has_more !== true || typeof next !== 'string' || !next) break;
        cursor = next;
      }
    } catch (err) {
      if (err instanceof SlackApiError && LOOKUP_IMPOSSIBLE.has(err.code)) {
        this.warnOnce(
          err.code,
          { target: TARGET, error: err.code },
          err.code === 'missing_scope'
            ? 'slack: cannot look for an earlier post of a group in the channel history: the bot token needs channels:history (public channel) or groups:history (private); posting again, so a crash between a post and its bookkeeping may show the group twice'
            : 'slack: cannot read the channel history to look for an earlier post of a group (invite the bot; give SLACK_CHANNEL as an id); posting again, so a crash between a post and its bookkeeping may show the group twice',
        );
        return undefined;
      }
      if (!(err instanceof OutboundError) || !err.retryable) throw err;
      if (intent.lookups + 1 >= MAX_FAILED_LOOKUPS) {
        this.warnOnce(
          'lookup_failed',
          { target: TARGET, error: err.message },
          'slack: the history lookup keeps failing; posting the group again',
        );
        return undefined;
      }
      await this.state.save(group, { slackIntent: { ...intent, lookups: intent.lookups + 1 } });
      throw err;
    }
    if (found) {
      this.opts.log?.info(
        { target: TARGET, attempt: intent.attempt },
        'slack: found the message an earlier attempt posted (by its metadata); updating it instead of posting again',
      );
      return found;
    }
    if (intent.answered) return undefined;
    const settlesAt = intent.at + (this.bot.inFlightMs ?? (this.bot.timeoutMs ?? 10_000) + 5_000);
    const wait = settlesAt - Date.now();
    if (wait > 0) {
      throw new OutboundError(TARGET, 'server', 'an earlier post of this group may still land in Slack; will look again', undefined, wait);
    }
    return undefined;
  }

  private warnOnce(reason: string, fields: Record<string, unknown>, msg: string): void {
    const last = this.warned.get(reason);
    if (last !== undefined && Date.now() - last < WARN_EVERY_MS) return;
    this.warned.set(reason, Date.now());
    this.opts.log?.warn(fields, msg);
  }

  /** A plain-text top-level message (the route's roll-up, src/publish/rollup.ts); returns its ts. */
  async postText(text: string, signal: AbortSignal): Promise<{ channel: string; ts: string }> {
    const answer = await this.call(
      'chat.postMessage',
      { channel: this.bot.channel, text, unfurl_links: false, unfurl_media: false },
      signal,
    );
    if (!answer.ts) throw new OutboundError(TARGET, 'bad_response', 'chat.postMessage answered ok without a ts', 200);
    return { channel: answer.channel ?? this.bot.channel, ts: answer.ts };
  }

  async updateText(ref: { channel: string; ts: string }, text: string, signal: AbortSignal): Promise<void> {
    await this.call('chat.update', { channel: ref.channel, ts: ref.ts, text }, signal);
  }

  /**
   * One Web API call through Slack's client (slack-api.ts), with a short Retry-After waited
   * out in place. `link_names`/`parse`: Slack must not turn any text into a mention; blocks
   * are mrkdwn verbatim.
   */
  private async call(method: 'chat.postMessage' | 'chat.update', body: Record<string, unknown>, signal: AbortSignal, lock?: HeldLock) {
    const answer = await honourRetryAfter(() => {
      const send = () => this.api.call(method, { ...body, link_names: false, parse: 'none' }, signal);
      // A paused worker whose group was taken over must not write over the newer message or thread.
      return lock ? whileHeld(lock, TARGET, method === 'chat.update' ? 'updating the message' : 'replying in the thread', send) : send();
    }, signal);
    return {
      ts: typeof answer.ts === 'string' ? answer.ts : undefined,
      channel: typeof answer.channel === 'string' ? answer.channel : undefined,
    };
  }
}

/** The history a thread reader wants: new alerts, resolved alerts, an improved summary. */
function threadReply(kind: PublishEvent['kind'], change: ViewChange, hadView: boolean, now: Date): string | undefined {
  const lines: string[] = [];
  // Without the previous view (state flushed) every alert looks new; say nothing rather than wrong.
  if (hadView && change.added.length) lines.push(newAlertsReply(change.added, change.view.alerts));
  if (change.resolvedNow || change.resolved.length) lines.push(resolvedReply(change.resolved, change.view, now));
  if (kind === 'narration') lines.push(narrationReply(change.view.lead));
  return lines.length ? lines.join('\n') : undefined;
}

export class SlackWebhookPublisher extends SlackPublisherBase {
  constructor(
    state: PublishState,
    private readonly hook: SlackWebhookOptions,
  ) {
    super(state, hook);
  }

  /**
   * Incoming webhooks answer 200 "ok", or 4xx/5xx with a plain-text code
   * (https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks#handling_errors);
   * httpRequest classifies the status and never prints the URL, which is the secret.
   */
  protected async deliver({ change, message, lock, signal }: Delivery): Promise<Delivered> {
    await honourRetryAfter(
      () =>
        // Every webhook message is a new one: a paused worker whose group was taken over sends none.
        whileHeld(lock, TARGET, 'posting', () =>
          httpRequest(TARGET, {
            method: 'POST',
            url: this.hook.webhookUrl,
            body: { text: message.text, blocks: message.blocks, unfurl_links: false, unfurl_media: false },
            timeoutMs: this.opts.timeoutMs ?? 10_000,
            signal,
          }),
        ),
      signal,
    );
    return { patch: { view: change.view } };
  }
}
