import request from 'supertest';
import { startTestService, type TestService } from './helpers/service';

/**
 * alert_annotator_queue_jobs counts both queues: a narration backlog (a slow model) must show
 * on /metrics, apart from the notifications' queue. It read only the `annotate` queue before,
 * so a pile of narration jobs on `annotate-narrate` never showed.
 */
describe('the queue-depth metric', () => {
  const services: TestService[] = [];
  afterAll(async () => {
    for (const s of services) await s.stop();
  });

  it.each(['worker', 'receiver'])('counts the narration queue too, by queue (ROLE=%s)', async (role) => {
    const svc = await startTestService({ ROLE: role });
    services.push(svc);
    // Two narration follow-ups waiting for their time, one notification waiting for a worker
    // (a receiver has none; a worker-only process gets a paused-by-delay job it cannot take yet).
    await svc.narrations.add('renarrate', { any: 'data' }, { delay: 600_000, jobId: 'r-depth-1' });
    await svc.narrations.add('renarrate', { any: 'data' }, { delay: 600_000, jobId: 'r-depth-2' });
    await svc.queue.add('group', { any: 'data' }, { delay: 600_000, jobId: 'g-depth-1' });
    const metrics = await request(svc.url).get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^alert_annotator_queue_jobs\{queue="annotate-narrate",state="delayed"\} 2$/m);
    expect(metrics.text).toMatch(/^alert_annotator_queue_jobs\{queue="annotate",state="delayed"\} 1$/m);
    expect(metrics.text).toMatch(/^alert_annotator_queue_jobs\{queue="annotate-narrate",state="waiting"\} 0$/m);
  });
});
