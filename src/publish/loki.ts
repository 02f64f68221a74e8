import type { LokiClient } from '../clients/loki';
import { recordLabels } from '../model/record';
import type { PublishEvent, PublishResult, Publisher } from './types';

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
