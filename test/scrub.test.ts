import { PassThrough, Readable } from 'node:stream';
import { createScrubber, scrubStream } from '../src/scrub';
import { ibanValid, isPublicIPv4, isPublicIPv6, luhnValid } from '../src/scrub/validate';

async function runStream(text: string): Promise<string> {
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on('data', (c: Buffer) => chunks.push(c));
  await scrubStream(Readable.from([text]), output);
  return Buffer.concat(chunks).toString('utf8');
}

describe('a scrubber session', () => {
  test('gives the same value the same placeholder, and different values different ones', () => {
    const s = createScrubber();
    const a = s.scrub('from alice@example.com to bob@example.com');
    const b = s.scrub('reply by alice@example.com');
    expect(a).toBe('from <EMAIL_1> to <EMAIL_2>');
    expect(b).toBe('reply by <EMAIL_1>');
  });

  test('numbers placeholders afresh in a new session', () => {
    createScrubber().scrub('a@example.com b@example.com');
    expect(createScrubber().scrub('b@example.com')).toBe('<EMAIL_1>');
  });

  test('is idempotent: scrubbing scrubbed text changes nothing', () => {
    const s = createScrubber();
    const once = s.scrub('password=hunter2 card 4111111111111111 ip 203.0.113.9 Authorization: Bearer abcdefgh12345678');
    expect(s.scrub(once)).toBe(once);
    expect(createScrubber().scrub(once)).toBe(once);
  });

  test('keeps the quotes of a JSON value it masks, so the line stays valid JSON', () => {
    const out = createScrubber().scrub('{"user":"svc","password":"p@ss \\"quoted\\" w0rd","n":1}');
    expect(JSON.parse(out)).toEqual({ user: 'svc', password: '<SECRET_1>', n: 1 });
  });

  test('leaves a card-shaped number that fails the Luhn check alone', () => {
    expect(createScrubber().scrub('order 4111111111111112 shipped')).toBe('order 4111111111111112 shipped');
  });

  test('does not treat an already masked value as a secret', () => {
    expect(createScrubber().scrub('password=*** token=[REDACTED] secret=<SECRET_4>')).toBe(
      'password=*** token=[REDACTED] secret=<SECRET_4>',
    );
  });

  test('scrubValue masks strings and keys deep inside a value, and whole values under secret keys', () => {
    const s = createScrubber();
    const input = {
      labels: { customer: 'alice@example.com', pod: 'checkout-7d9f8b6c5-x2x9k' },
      annotations: [{ text: 'card 4111 1111 1111 1111 declined' }],
      dbPassword: 'plain words with spaces',
      apiKey: 12345678,
      count: 3,
      nested: { 'bob@example.com': true },
    };
    const out = s.scrubValue(input);
    expect(out).toEqual({
      labels: { customer: '<EMAIL_1>', pod: 'checkout-7d9f8b6c5-x2x9k' },
      annotations: [{ text: 'card <CARD_1> declined' }],
      dbPassword: '<SECRET_1>',
      apiKey: '<SECRET_2>',
      count: 3,
      nested: { '<EMAIL_2>': true },
    });
    expect(input.labels.customer).toBe('alice@example.com');
  });
});

describe('the validators', () => {
  test.each([
    ['4111111111111111', true],
    ['378282246310005', true],
    ['4111111111111112', false],
  ])('Luhn says %s is %s', (n, ok) => expect(luhnValid(n)).toBe(ok));

  test.each([
    ['GB82WEST12345698765432', true],
    ['GB82 WEST 1234 5698 7654 32', true],
    ['GB83WEST12345698765432', false],
  ])('mod-97 says IBAN %s is %s', (n, ok) => expect(ibanValid(n)).toBe(ok));

  test.each([
    ['203.0.113.9', true],
    ['8.8.8.8', true],
    ['10.2.0.1', false],
    ['172.31.255.1', false],
    ['172.32.0.1', true],
    ['100.64.0.1', false],
    ['169.254.169.254', false],
    ['999.1.1.1', false],
  ])('IPv4 %s is public: %s', (ip, ok) => expect(isPublicIPv4(ip)).toBe(ok));

  test.each([
    ['2001:db8::1', true],
    ['fe80::1', false],
    ['fd00::1', false],
    ['::1', false],
    ['12:34:56', false],
  ])('IPv6 %s is public: %s', (ip, ok) => expect(isPublicIPv6(ip)).toBe(ok));
});

describe('scrubStream (the scrub command)', () => {
  test('scrubs line by line with one session for the whole run', async () => {
    const out = await runStream('login alice@example.com\nlogout alice@example.com\nfrom bob@example.com\n');
    expect(out).toBe('login <EMAIL_1>\nlogout <EMAIL_1>\nfrom <EMAIL_2>\n');
  });

  test('drops the body of a private key block that spans lines', async () => {
    const out = await runStream(
      'before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\nAAAAsecretbody\n-----END RSA PRIVATE KEY----- after\nnext line\n',
    );
    expect(out).toBe('before\n<PRIVATE_KEY_1>\n after\nnext line\n');
    expect(out).not.toContain('MIIE');
  });

  test('a key block whose END line carries nothing else leaves no empty line behind', async () => {
    const out = await runStream('a\n-----BEGIN PRIVATE KEY-----\nMIIEabc\n-----END PRIVATE KEY-----\nb\n');
    expect(out).toBe('a\n<PRIVATE_KEY_1>\nb\n');
  });
});
