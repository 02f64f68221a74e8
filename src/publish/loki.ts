import type { LokiClient } from '../clients/loki';
import type { AnnotationRecord } from '../record';
import type { PublishEvent, PublishResult, Publisher } from './types';

export const RECORD_JOB_LABEL = 'alert-annotator';

/** Stream labels of a record: low cardinality only (DESIGN.md). */
export function recordLabels(r: Pick<AnnotationRecord, 'alertname' | 'severity' | 'status'>): Record<string, string> {
  return { job: RECORD_JOB_LABEL, alertname: r.alertname, severity: r.severity, status: r.status };
}

/** Writes each annotation record as one JSON line, one push per record. */
export class LokiPublisher implements Publisher {
  readonly name = 'loki' as const;
  constructor(private readonly client: LokiClient) {}

  async publish(event: PublishEvent, signal: AbortSignal): Promise<PublishResult> {
    for (const record of event.records) {
      await this.client.push([{ labels: recordLabels(record), line: JSON.stringify(record) }], signal);
    }
    return { target: this.name, published: event.records.length > 0 };
  }
}
