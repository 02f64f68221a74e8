import type { Logger } from 'pino';
import type { WebhookPayload } from '../model/alert';
import type { ChangeEvent, History, OtherAlert } from '../model/context';
import type { Exemplar, LogStream, Series, SourceStatus, Trace } from '../model/evidence';
import type { Windows } from '../model/window';

/** What a source is asked for: the alerts of one group and the time of the analysis. */
export interface GatherRequest {
  payload: WebhookPayload;
  /** The firing alerts that need an annotation (a subset of payload.alerts). */
  alerts: WebhookPayload['alerts'];
  now: Date;
  /** The baseline and incident windows every source queries, worked out once per group. */
  windows: Windows;
  log: Logger;
}

export interface SourceResult {
  series?: Series[];
  logs?: LogStream[];
  traces?: Trace[];
  exemplars?: Exemplar[];
  /** Log windows cut by a line limit: the oldest line returned in each. */
  logsFrom?: { baseline?: Date; incident?: Date };
  changes?: ChangeEvent[];
  otherAlerts?: OtherAlert[];
  history?: History;
  /** Set when the source returned only part of what it was asked for. */
  partial?: string;
}

/** One evidence source (Prometheus, Loki, Tempo). A throw thins the bundle; it never fails the job. */
export interface Source {
  readonly name: SourceStatus['source'];
  gather(req: GatherRequest, signal: AbortSignal): Promise<SourceResult>;
}
