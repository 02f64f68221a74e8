import type { Logger } from 'pino';
import { OutboundError } from '../clients/http';
import { whileHeld, type PublishState } from './state';

/**
 * The chart into the group's Slack thread (issue 13 item 3), with Slack's current upload
 * flow (https://docs.slack.dev/messaging/working-with-files#uploading_files):
 * `files.getUploadURLExternal` (filename, length) → POST the bytes to the upload_url it
 * answers → `files.completeUploadExternal` (files [{id, title}], channel_id, thread_ts).
 * Once per group: a marker in the publish state, written after the file was shared, makes a
 * retried job (or a second worker) skip it. Best-effort: the message and the record are out
 * before this starts; a failure is logged and counted, never thrown, and a timeout bounds it.
 */

/** The Web API as this module needs it: SlackWebApi (slack-api.ts), or anything with its call(). */
export interface SlackMethodCaller {
  call(method: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<Record<string, unknown>>;
}

export interface ChartFile {
  png: Buffer;
  /** The file's title in Slack. */
  title: string;
  filename: string;
  /** What the picture shows, for screen readers (alt_txt, at most 1000 characters). */
  altText?: string;
}

export type ChartUploadOutcome = 'uploaded' | 'already' | 'skipped' | 'failed';

export interface SlackChartUploaderOptions {
  api: SlackMethodCaller;
  state: PublishState;
  /** The whole upload (lock, drawing, three calls) gives up after this long. */
  timeoutMs?: number;
  log?: Logger;
  /** Counts each outcome except `already` (alert_annotator_chart_uploads_total). */
  count?: (outcome: Exclude<ChartUploadOutcome, 'already'>) => void;
  /** For tests: the POST of the bytes. */
  fetch?: typeof fetch;
}

/** The publish-state marker of a group whose chart is in its thread (or that has none to draw). */
export const CHART_MARKER = 'slack-chart:thread';
const LOCK_TARGET = 'slack-chart';
const DEFAULT_TIMEOUT_MS = 30_000;

export interface ChartUploadRequest {
  groupKey: string;
  /** The group's message: its channel id and ts (the thread's parent). */
  channel: string;
  threadTs: string;
  /** Draws the chart; called only when the group has none yet. */
  chart: () => Promise<ChartFile | { reason: string }>;
}

export class SlackChartUploader {
  private readonly timeoutMs: number;
  constructor(private readonly opts: SlackChartUploaderOptions) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Never throws: the outcome says what happened, the log line why. */
  async uploadOnce(req: ChartUploadRequest, jobSignal: AbortSignal): Promise<ChartUploadOutcome> {
    const signal = AbortSignal.any([jobSignal, AbortSignal.timeout(this.timeoutMs)]);
    const log = this.opts.log;
    try {
      if ((await this.opts.state.load(req.groupKey, CHART_MARKER, [])).done) return 'already';
      return await this.opts.state.withLock(req.groupKey, LOCK_TARGET, signal, async (lock) => {
        // Another worker may have finished while this one waited for the lock.
        if ((await this.opts.state.load(req.groupKey, CHART_MARKER, [])).done) return 'already';
        const chart = await req.chart();
        if ('reason' in chart) {
          log?.info({ target: 'slack', reason: chart.reason }, 'slack: no chart for this group');
          // Nothing to draw stays so on a retry: remembered like an upload.
          await this.opts.state.save(req.groupKey, {}, CHART_MARKER);
          this.opts.count?.('skipped');
          return 'skipped';
        }
        throwIfAborted(signal, jobSignal);
        // Drawing took a while: a worker paused meanwhile, its group taken over, uploads nothing
        // (its Slack calls are fenced up to the moment each is written).
        await whileHeld(lock, 'slack', 'uploading the chart', () => this.upload(req, chart, signal, jobSignal));
        await this.opts.state.save(req.groupKey, {}, CHART_MARKER);
        this.opts.count?.('uploaded');
        log?.info({ target: 'slack', bytes: chart.png.length }, 'slack: chart uploaded into the thread');
        return 'uploaded';
      });
    } catch (err) {
      this.opts.count?.('failed');
      const reason = signal.aborted && !jobSignal.aborted ? 'timeout' : err instanceof OutboundError ? err.reason : 'error';
      log?.warn({ target: 'slack', reason, err: (err as Error).message }, 'slack: chart upload failed; the message stands without it');
      return 'failed';
    }
  }

  private async upload(req: ChartUploadRequest, chart: ChartFile, signal: AbortSignal, jobSignal: AbortSignal): Promise<void> {
    const announced = await this.opts.api.call(
      'files.getUploadURLExternal',
      {
        filename: chart.filename,
        length: chart.png.length,
        ...(chart.altText ? { alt_txt: chart.altText.slice(0, 1000) } : {}),
      },
      signal,
    );
    const uploadUrl = announced.upload_url;
    const fileId = announced.file_id;
    if (typeof uploadUrl !== 'string' || !/^https?:\/\//.test(uploadUrl) || typeof fileId !== 'string' || !fileId)
      throw new OutboundError('slack', 'bad_response', 'files.getUploadURLExternal answered ok without an upload_url and file_id', 200);
    throwIfAborted(signal, jobSignal);
    // The upload URL is a capability: no token goes there, and it is never logged.
    let status: number;
    try {
      const r = await (this.opts.fetch ?? fetch)(uploadUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/octet-stream' },
        body: chart.png,
        redirect: 'error',
        signal,
      });
      status = r.status;
      await r.arrayBuffer().catch(() => undefined);
    } catch (err) {
      if (signal.aborted) throw new OutboundError('slack', jobSignal.aborted ? 'aborted' : 'timeout', 'the chart upload timed out');
      throw new OutboundError('slack', 'network', `the chart upload failed (${(err as Error).name})`);
    }
    if (status !== 200) throw new OutboundError('slack', status >= 500 ? 'server' : 'client', `the upload URL answered ${status}`, status);
    await this.opts.api.call(
      'files.completeUploadExternal',
      { files: [{ id: fileId, title: chart.title }], channel_id: req.channel, thread_ts: req.threadTs },
      signal,
    );
  }
}

function throwIfAborted(signal: AbortSignal, jobSignal: AbortSignal): void {
  if (signal.aborted) throw new OutboundError('slack', jobSignal.aborted ? 'aborted' : 'timeout', 'the chart upload was cut short');
}
