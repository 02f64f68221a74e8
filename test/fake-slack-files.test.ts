import { Resvg } from '@resvg/resvg-js';
import { WebClient } from '@slack/web-api';
import { FAKE_SLACK_TOKEN, FakeSlack, pngHeader } from './fakes/slack';

/**
 * The fake's file upload follows Slack's: Slack's own client (@slack/web-api filesUploadV2,
 * the three steps) uploads into a thread, and the error answers are Slack's codes.
 */

const png = new Resvg('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60"><rect width="120" height="60" fill="#36c"/></svg>')
  .render()
  .asPng();

describe('fake Slack: file uploads', () => {
  let slack: FakeSlack;
  let client: WebClient;
  beforeEach(async () => {
    slack = await new FakeSlack().start();
    client = new WebClient(FAKE_SLACK_TOKEN, { slackApiUrl: `${slack.url}/api/`, retryConfig: { retries: 0 } });
  });
  afterEach(() => slack.stop());

  /** The parent message, posted as our publisher posts it (JSON). */
  async function thread(): Promise<string> {
    const r = await fetch(`${slack.url}/api/chat.postMessage`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${FAKE_SLACK_TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ channel: 'C0ALERTS', text: 'parent' }),
    });
    return ((await r.json()) as { ts: string }).ts;
  }

  it("takes Slack's own client's three-step upload into a thread and decodes the PNG's size", async () => {
    const ts = await thread();
    await client.filesUploadV2({ channel_id: 'C0ALERTS', thread_ts: ts, file: png, filename: 'chart.png', title: 'the chart' });
    expect(slack.uploads).toEqual([
      expect.objectContaining({ channel: 'C0ALERTS', threadTs: ts, filename: 'chart.png', title: 'the chart', width: 120, height: 60 }),
    ]);
    expect(slack.uploads[0]!.bytes.equals(png)).toBe(true);
  });

  it('answers missing_scope without files:write, naming the scope', async () => {
    slack.scopes.delete('files:write');
    const r = await fetch(`${slack.url}/api/files.getUploadURLExternal`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${FAKE_SLACK_TOKEN}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ filename: 'a.png', length: String(png.length) }).toString(),
    });
    expect(await r.json()).toEqual(expect.objectContaining({ ok: false, error: 'missing_scope', needed: 'files:write' }));
  });

  async function announce(length: number): Promise<{ upload_url: string; file_id: string }> {
    const r = await client.files.getUploadURLExternal({ filename: 'chart.png', length });
    return r as unknown as { upload_url: string; file_id: string };
  }

  it('refuses bytes that are not a PNG, or not the length announced, and then has no file to share', async () => {
    const ts = await thread();
    const notPng = Buffer.from('GIF89a this is not a png at all, padding padding');
    const a = await announce(notPng.length);
    const r1 = await fetch(a.upload_url, { method: 'POST', body: notPng });
    expect(r1.status).toBe(400);
    expect(await r1.text()).toMatch(/not a PNG/);
    const b = await announce(png.length + 1);
    expect((await fetch(b.upload_url, { method: 'POST', body: png })).status).toBe(400);
    await expect(
      client.files.completeUploadExternal({ files: [{ id: a.file_id }], channel_id: 'C0ALERTS', thread_ts: ts }),
    ).rejects.toMatchObject({ data: { ok: false, error: 'file_not_found' } });
    expect(slack.uploads).toHaveLength(0);
  });

  it('checks the channel and the thread: not_in_channel, channel_not_found, invalid_thread_ts', async () => {
    const complete = async (args: Record<string, string>) => {
      const a = await announce(png.length);
      expect((await fetch(a.upload_url, { method: 'POST', body: png })).status).toBe(200);
      return client.files
        .completeUploadExternal({ files: [{ id: a.file_id, title: 't' }], ...args })
        .catch((e: { data: unknown }) => e.data);
    };
    expect(await complete({ channel_id: 'C0PRIVATE' })).toMatchObject({ ok: false, error: 'not_in_channel' });
    expect(await complete({ channel_id: 'C0NOPE' })).toMatchObject({ ok: false, error: 'channel_not_found' });
    expect(await complete({ channel_id: 'C0ALERTS', thread_ts: '1.000001' })).toMatchObject({ ok: false, error: 'invalid_thread_ts' });
    expect(slack.uploads).toHaveLength(0);
    expect(await complete({ channel_id: 'C0ALERTS', thread_ts: await thread() })).toMatchObject({ ok: true });
    expect(slack.uploads).toHaveLength(1);
  });

  it('decodes a PNG header and refuses a truncated one', () => {
    expect(pngHeader(png)).toEqual({ width: 120, height: 60 });
    expect(pngHeader(png.subarray(0, png.length - 20))).toEqual({ problem: expect.stringMatching(/IEND/) });
  });
});
