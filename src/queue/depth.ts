import type { Queue } from 'bullmq';
import { DEPTH_STATES } from './job';

/**
 * Jobs per queue and state, for `alert_annotator_queue_jobs{queue,state}`: every queue the
 * service uses (the notifications' and the narrations'), so a backlog of narrations behind a
 * slow model shows as one, apart from a backlog of first notes.
 */
export async function queueDepth(queues: readonly Queue[]): Promise<Record<string, Record<string, number>>> {
  const counts = await Promise.all(queues.map((q) => q.getJobCounts(...DEPTH_STATES)));
  return Object.fromEntries(queues.map((q, i) => [q.name, counts[i]!]));
}
