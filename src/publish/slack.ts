import type { Logger } from 'pino';
import { httpRequest, OutboundError } from '../clients/http';
import { allResolved, mergeView, type ViewChange } from './group-view';
import { honourRetryAfter } from './retry';
import type { LogLinkOptions } from './links';
import { routeRecords, type Severity } from './routing';
import { SlackApiError, SlackWebApi } from './slack-api';
import { buildSlackMessage, narrationReply, newAlertsReply, resolvedReply, type SlackMessage } from './slack-blocks';
import { eventId, type GroupState, type PublishState, type SlackRef } from './state';
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
  /** Channel id (C…) or name; the id is what chat.update needs, and what postMessage answers with. */
  channel: string;
  apiUrl: string;
}

export interface SlackWebhookOptions extends SlackCommonOptions {
  webhookUrl: string;
}

/** One event's delivery: what to send, and what is remembered of the group so far. */
interface Delivery {
  event: PublishEvent;
  change: ViewChange;
  message: SlackMessage;
  /** The group's message, when one was posted before. */
  ref: SlackRef | undefined;
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
    return this.state.withLock(group, TARGET, signal, async () => {
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
      const delivered = await this.deliver({ event, change, message, ref: known.slack, hadView: known.view !== undefined, now, signal });
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

export class SlackBotPublisher extends SlackPublisherBase {
  private readonly api: SlackWebApi;
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
  }

  protected async deliver({ event, change, message, ref: remembered, hadView, now, signal }: Delivery): Promise<Delivered> {
    // After a Redis flush the Loki records still carry the ts (the pipeline copies it in).
    // Only for later events: a first note has no message to find, and must not wait for Loki.
    const carried = event.records.find((r) => r.slackTs);
    const recovered = carried?.slackTs
      ? { ts: carried.slackTs, ...(carried.slackChannel ? { channel: carried.slackChannel } : {}) }
      : remembered || event.kind === 'initial'
        ? undefined
        : await this.bot.findTs?.(event, signal);
    let ref = remembered ?? (recovered ? { channel: recovered.channel ?? this.bot.channel, ts: recovered.ts } : undefined);
    if (ref) {
      try {
        await this.call('chat.update', { channel: ref.channel, ts: ref.ts, text: message.text, blocks: message.blocks }, signal);
      } catch (err) {
        if (!(err instanceof SlackApiError && MESSAGE_GONE.has(err.code))) throw err;
        this.opts.log?.warn({ target: TARGET, error: err.message }, 'slack: the group message cannot be updated; posting a new one');
        ref = undefined;
      }
    }
    if (!ref) {
      const answer = await this.call(
        'chat.postMessage',
        { channel: this.bot.channel, text: message.text, blocks: message.blocks, unfurl_links: false, unfurl_media: false },
        signal,
      );
      if (!answer.ts) throw new OutboundError(TARGET, 'bad_response', 'chat.postMessage answered ok without a ts', 200);
      ref = { channel: answer.channel ?? this.bot.channel, ts: answer.ts };
      // Nothing may fail between the post and saving its ts (the caller does at once), or a retry would post again.
      return { ts: ref.ts, channel: ref.channel, patch: { slack: ref, view: change.view } };
    }
    const reply = threadReply(event.kind, change, hadView, now);
    if (reply)
      await this.call(
        'chat.postMessage',
        { channel: ref.channel, thread_ts: ref.ts, text: reply, unfurl_links: false, unfurl_media: false },
        signal,
      );
    return { ts: ref.ts, channel: ref.channel, patch: { slack: ref, view: change.view } };
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
  private async call(method: 'chat.postMessage' | 'chat.update', body: Record<string, unknown>, signal: AbortSignal) {
    const answer = await honourRetryAfter(() => this.api.call(method, { ...body, link_names: false, parse: 'none' }, signal), signal);
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
  protected async deliver({ change, message, signal }: Delivery): Promise<Delivered> {
    await honourRetryAfter(
      () =>
        httpRequest(TARGET, {
          method: 'POST',
          url: this.hook.webhookUrl,
          body: { text: message.text, blocks: message.blocks, unfurl_links: false, unfurl_media: false },
          timeoutMs: this.opts.timeoutMs ?? 10_000,
          signal,
        }),
      signal,
    );
    return { patch: { view: change.view } };
  }
}
