import fc from 'fast-check';
import { isIPv4, isIPv6 } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { createScrubber, scrubStream } from '../src/scrub';
import { CLI_PATTERN, cliPasswords } from '../src/scrub/cli';
import { decode } from '../src/scrub/decode';
import { MASK_RULES } from '../src/scrub/rules';
import { HEX_ID_PATTERN, asArray, hexIds, ipv4s, ipv6s, shortPairs } from '../src/scrub/scan';
import { ibanValid, isPublicIPv4, isPublicIPv4At, isPublicIPv6, luhnValid } from '../src/scrub/validate';

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

  test.each(['01.2.3.4', '1.2.3.04', '1.2.3', '1.2.3.4.5', '1..2.3', '256.1.1.1', '1.2.3.4 ', '+1.2.3.4', '1.2.3.1000', ''])(
    'IPv4 %j is no address (as node:net reads one)',
    (ip) => {
      expect(isIPv4(ip)).toBe(false);
      expect(isPublicIPv4(ip)).toBe(false);
    },
  );

  test('the address scans agree with node:net on what is an address', () => {
    const octet = fc.oneof(fc.nat(300).map(String), fc.constantFrom('00', '01', '007', '', 'a', '1000'));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.ipV4(),
          fc.array(octet, { minLength: 3, maxLength: 5 }).map((o) => o.join('.')),
        ),
        (ip) => {
          if (!isIPv4(ip)) expect(isPublicIPv4(ip)).toBe(false);
          else
            expect(isPublicIPv4(ip)).toBe(
              !/^(?:0|10|127|22[4-9]|2[3-5]\d|100\.(?:6[4-9]|[7-9]\d|1[01]\d|12[0-7])|169\.254|172\.(?:1[6-9]|2\d|3[01])|192\.168)\./.test(
                ip,
              ),
            );
        },
      ),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.oneof(fc.ipV6(), fc.stringMatching(/^[0-9a-f:]{0,20}$/)), (ip) => {
        const first = parseInt(ip.split(':')[0] || 'x', 16);
        expect(isPublicIPv6(ip)).toBe(isIPv6(ip) && first >= 0x2000 && first <= 0x3fff);
      }),
      { numRuns: 2000 },
    );
  });
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

/**
 * Issue 11, finding 5: classes an independent corpus found passing through, and a header
 * that lost its attribute names. Each case plants one secret and names text that must stay.
 */
describe('scrubber gaps found in review', () => {
  const NPM = 'npm_' + 'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5';
  const GITLAB = 'glpat-' + 'xK9mQ2vR7tY4wZ8nB3cD';
  const GITHUB = 'ghp_' + 'R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3s12';
  const GITHUB_FINE = 'github_pat_' + '11ABCDEFG0123456789abc' + '_' + 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345678';
  it.each([
    ['an npm access token', `npm notice using token ${NPM} for registry`, NPM, ['npm notice using token', 'for registry']],
    [
      'a GitLab personal access token',
      `git clone https://gitlab.example.com/grp/repo.git --token ${GITLAB}`,
      GITLAB,
      ['gitlab.example.com'],
    ],
    ['a GitHub classic token', `GITHUB_AUTH ${GITHUB} rejected`, GITHUB, ['rejected']],
    ['a GitHub fine-grained token', `auth with ${GITHUB_FINE} failed`, GITHUB_FINE, ['failed']],
    [
      'a percent-encoded email in a URL',
      'GET /api/users?email=alice.smith%40example.com&page=2 200',
      'alice.smith',
      ['page=2', '/api/users'],
    ],
    ['an email in a percent-encoded redirect', 'redirect to /login?next=%2Fprofile%3Fuser%3Dbob%2540example.org', 'bob', ['/login?next=']],
    ['DB_PASS=', 'starting with DB_HOST=db.internal DB_PASS=Tr0ub4dor&3 DB_USER=app', 'Tr0ub4dor', ['DB_HOST=db.internal', 'DB_USER=app']],
    ['pw=', 'login attempt user=svc pw=s3cr3tValue!', 's3cr3tValue', ['user=svc']],
    ['mysql -p', 'exec: mysql -h db -u root -pHunter2Pass orders', 'Hunter2Pass', ['mysql -h db -u root', 'orders']],
    [
      'privateKey: "MIIE…"',
      'config loaded {privateKey: "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"}',
      'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7',
      ['config loaded'],
    ],
    ['"my password is …"', 'support chat: my password is BlueHorse42 please reset', 'BlueHorse42', ['support chat', 'please reset']],
    [
      'an international phone number with 00 and spaces',
      'callback requested on 0044 20 7946 0958 by customer',
      '0044 20 7946 0958',
      ['callback requested on', 'by customer'],
    ],
  ])('masks %s', (_name, line, secret, keep) => {
    const out = createScrubber().scrub(line);
    expect(out).not.toContain(secret);
    for (const k of keep) expect(out).toContain(k);
  });

  it('masks a Set-Cookie value and keeps the cookie name and its attributes', () => {
    const out = createScrubber().scrub(
      'Set-Cookie: session_id=38afes7a8f9d0c2b1e4; Path=/; Domain=shop.example.com; Max-Age=3600; HttpOnly; Secure; SameSite=Lax',
    );
    expect(out).not.toContain('38afes7a8f9d0c2b1e4');
    expect(out).toMatch(
      /^Set-Cookie: session_id=<COOKIE_1>; Path=\/; Domain=shop\.example\.com; Max-Age=3600; HttpOnly; Secure; SameSite=Lax$/,
    );
  });

  it('masks every value of a Cookie header and keeps every name', () => {
    const out = createScrubber().scrub('Cookie: theme=dark; sid=9f8e7d6c5b4a; cart=1234');
    expect(out).toBe('Cookie: theme=<COOKIE_1>; sid=<COOKIE_2>; cart=<COOKIE_3>');
  });
});

describe('the command-line password scanner', () => {
  /** What the pattern finds, global match by match: the oracle the scanner is held to. */
  const byPattern = (text: string): [number, number, number][] =>
    [...text.matchAll(new RegExp(CLI_PATTERN, 'g'))].map((m) => [m.index, m.index + m.groups!.head!.length, m.index + m[0].length]);

  test('finds what the pattern finds, on any mix of commands, flags, quotes, long words and spacing', () => {
    const word = fc.constantFrom(
      'mysql',
      '/usr/bin/mysql',
      'mysqldump',
      'mysqladmin',
      'mariadb',
      'mariadb-dump',
      'sshpass',
      'redis-cli',
      'x-mysql',
      '.mysql',
      'mysql.x',
      'mysqlx',
      '"mysql',
      '-p',
      '-pS3cret',
      '-p"x"',
      "-p'x'",
      '-pX"y',
      '-pX"/mysql',
      '-a',
      '"q"',
      "'q'",
      'S3cret',
      '-h',
      'db',
      '-u',
      'root',
      'a'.repeat(201),
      'a'.repeat(200),
      '-password=x',
    );
    const gap = fc.constantFrom(' ', '  ', '\t', '\n', '\u00a0', '\u2028');
    const soup = fc.array(fc.tuple(word, gap), { maxLength: 30 }).map((parts) => parts.map(([w, g]) => w + g).join(''));
    // A command, 0-14 arguments (the pattern allows 12), a flag: the boundaries the scanner must get right.
    const command = fc
      .tuple(
        fc.constantFrom('mysql', 'x/mariadb', 'redis-cli', 'sshpass'),
        fc.array(fc.constantFrom('-h', 'db', '-a', '-p', 'a'.repeat(201), '"q"'), { maxLength: 14 }),
        fc.constantFrom('-pS3cret', '-p"x"', '-a S3cret', "-a 'x'", '-p S3cret'),
      )
      .map(([c, args, flag]) => [c, ...args, flag].join(' '));
    const text = fc.array(fc.oneof(soup, command), { maxLength: 4 }).map((p) => p.join(' '));
    fc.assert(
      fc.property(fc.tuple(fc.constantFrom('', ' ', 'x'), text, fc.constantFrom('', 'x', ' -pZ')), ([head, body, tail]) => {
        const t = head + body + tail;
        expect(cliPasswords(t)).toEqual(byPattern(t));
      }),
      { numRuns: 5000 },
    );
  });

  test.each([
    ['mysql -h db -u app -pS3cret', 'S3cret'],
    ['sshpass -p S3cret ssh host', 'S3cret'],
    ['redis-cli -h cache -a S3cret ping', 'S3cret'],
    ['/usr/bin/mysqldump --single-transaction -pS3cret shop', 'S3cret'],
  ])('%s: the value is %s', (line, value) => {
    const [[, valueStart, end]] = cliPasswords(line) as [[number, number, number]];
    expect(line.slice(valueStart, end)).toBe(value);
  });
});

describe('the pre-checks of the number rules', () => {
  // IBAN, card and phone skip their pattern on text whose one pass over digits rules it out;
  // the pre-check must never skip a text the pattern matches.
  const piece = fc.oneof(
    fc.stringMatching(/^[0-9]{1,6}$/),
    fc.constantFrom(' ', '-', '.', '+', '(', ')', '00', 'DE', 'GB', 'AZ', 'x'),
    // A phone number of any of the pattern's branches (its body without the lookarounds), so each is met often.
    fc.stringMatching(
      /^(?:(?:\+|00)\d{1,3}[ .-]?(?:\(0?\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|\(\d{3}\) ?\d{3}[-. ]\d{4}|\d{3}[-.]\d{3}[-.]\d{4}|0\d{2,4}(?: \d{2,6}){1,3})$/,
    ),
  );
  test.each(['iban', 'card', 'phone'])('%s: the pre-check passes every text its pattern matches', (name) => {
    const rule = MASK_RULES.find((r) => r.name === name)!;
    const pattern = new RegExp(rule.pattern.source, rule.pattern.flags.replace('g', ''));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 16 }), (cs) => {
        const text = cs.join('');
        if (pattern.test(text)) expect(rule.maybe?.(text) ?? true).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
  test.each([
    ['iban', 'x DE89370400440532013000 y'],
    ['card', 'x 4111 1111-1111 1111 y'],
    ['phone', 'call 0044 20 7946 0958'],
    ['phone', 'call +44 20 7946 0958'],
    ['phone', 'call (415) 555-2671'],
    ['phone', 'call 415.555.2671'],
    ['phone', 'call 020 7946 0958'],
  ])('%s: the pattern matches %s, and the pre-check passes it', (name, text) => {
    const rule = MASK_RULES.find((r) => r.name === name)!;
    expect(new RegExp(rule.pattern.source, rule.pattern.flags.replace('g', '')).test(text)).toBe(true);
    expect(rule.maybe?.(text)).toBe(true);
  });
  test.each([
    ['card', 'x 4111111111111111 y'],
    ['card', 'x DE89370400440532013000 y'],
    ['ipv6', 'x 2001:db8::1 y'],
  ])('phone: the pre-check rules out a %s (%s)', (_name, text) => {
    expect(MASK_RULES.find((r) => r.name === 'phone')!.maybe?.(text)).toBe(false);
  });
  test.each([
    ['an IBAN', 'x DE89370400440532013000 y'],
    ['a run after a letter', 'x id4111111111111111 y'],
    ['a run after a dash', 'x -4111111111111111 y'],
    ['a run starting with 7', 'x 7111111111111111 y'],
  ])('card: the pre-check rules out %s (%s)', (_name, text) => {
    expect(MASK_RULES.find((r) => r.name === 'card')!.maybe?.(text)).toBe(false);
  });
});

describe('the hex id scanner', () => {
  /** What the pattern finds, global match by match, as flat triples: the oracle the scanner is held to. */
  const byPattern = (text: string): number[] =>
    [...text.matchAll(new RegExp(HEX_ID_PATTERN, 'g'))].flatMap((m) => [m.index, m.index, m.index + m[0].length, m.index + m[0].length]);
  const hexOf = (n: number, chars = '0123456789abcdef') =>
    fc.string({ unit: fc.constantFrom(...chars.split('')), minLength: n, maxLength: n });
  const piece = fc.oneof(
    fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEFgxz_-:. /'.split('')), maxLength: 12 }),
    fc.integer({ min: 5, max: 66 }).chain((n) => hexOf(n)),
    fc.tuple(hexOf(8, '0123456789abcdefABCDEF'), hexOf(4), hexOf(4), hexOf(4), hexOf(12, '0123456789abcdefABCDEF')).map((p) => p.join('-')),
    fc.tuple(hexOf(32, '0123456789abcdef0123456789abcdefA'), hexOf(16), hexOf(2)).map((p) => `00-${p.join('-')}`),
    fc
      .tuple(
        fc.constantFrom('sha256:', 'sha512:', 'sha1:', 'xsha256:'),
        fc.integer({ min: 30, max: 40 }).chain((n) => hexOf(n)),
      )
      .map((p) => p.join('')),
    fc.constantFrom(' ', '-', '_', 'é', 'Z', '00-'),
  );
  test('finds what the pattern finds, on any mix of ids, near-ids and separators', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
        const text = parts.join('');
        expect(asArray(hexIds(text))).toEqual(byPattern(text));
      }),
      { numRuns: 5000 },
    );
  });
  test.each([
    ['sha256:' + 'a'.repeat(32), 1],
    ['00-' + 'a'.repeat(32) + '-' + 'b'.repeat(16) + '-01', 1],
    ['550e8400-e29b-41d4-a716-446655440000', 1],
    ['deadbeef', 1],
    ['1234567', 0],
    ['x' + 'a'.repeat(10), 0],
  ])('%s: %d id(s)', (text, count) => {
    expect(hexIds(` ${text} `).n / 4).toBe(count);
    expect(byPattern(` ${text} `).length / 4).toBe(count);
  });
});

describe('the key=value scanners', () => {
  /** A rule's matches by its pattern, as the scanners give them: start, mask start, mask end (inside a quoted value's quotes), end. */
  const byRule = (name: string, text: string): number[] => {
    const rule = MASK_RULES.find((r) => r.name === name)!;
    return [...text.matchAll(new RegExp(rule.pattern.source, rule.pattern.flags))].flatMap((m) => {
      const end = m.index + m[0].length;
      let at = m.index + m[1]!.length;
      let stop = end;
      const q = text[at];
      if (stop - at >= 2 && (q === '"' || q === "'") && text[stop - 1] === q) {
        at++;
        stop--;
      }
      return [m.index, at, stop, end];
    });
  };
  const soup = (words: string[]) =>
    fc
      .array(
        fc.oneof(
          fc.constantFrom(...words),
          fc.constantFrom(
            '=',
            ':',
            ' ',
            '  ',
            '\t',
            '\n',
            '\u2028',
            '"',
            "'",
            '\\',
            '\\"',
            '\\\n',
            '&',
            '&=',
            '&b=',
            '&x',
            ',',
            ';',
            '}',
            ']',
            '_',
            '-',
            '.',
            'a',
            'Z',
            '9',
            'x',
          ),
          fc.constantFrom('=', ':', '="', "='", ': "', '=a&', '="a\\'),
        ),
        { maxLength: 24 },
      )
      .map((p) => p.join(''));
  test('shortPairs finds what the shortpair pattern finds', () => {
    const words = [
      'pass',
      'Pass',
      'PASS',
      'pAss',
      'pw',
      'Pw',
      'PW',
      'pW',
      'db',
      'DB',
      'bypass',
      'x_pass',
      'dbPass',
      'DB_PW',
      '"pw"',
      "'pass'",
    ];
    fc.assert(
      fc.property(soup(words), (text) => expect(asArray(shortPairs(text))).toEqual(byRule('shortpair', text))),
      { numRuns: 20000 },
    );
  });
});

describe('the IPv6 scanner', () => {
  test('finds the addresses the ipv6 rule finds (its pattern, then isPublicIPv6)', () => {
    const rule = MASK_RULES.find((r) => r.name === 'ipv6')!;
    const byRule = (text: string): number[] =>
      [...text.matchAll(new RegExp(rule.pattern.source, rule.pattern.flags))]
        .filter((m) => isPublicIPv6(m[0]))
        .flatMap((m) => [m.index, m.index, m.index + m[0].length, m.index + m[0].length]);
    const piece = fc.oneof(
      fc.ipV6(),
      fc.constantFrom('2001:db8::1', '2001:0db8:0000:0000:0000:ff00:0042:8329', 'fe80::1', '::1', '::', '2001::', '3fff::1:2', '20011::1'),
      fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:'.split('')), maxLength: 45 }),
      fc.constantFrom(' ', ':', '::', '.', '_', 'g', 'Z', '-', '/', 'x2001:db8::1', '1.2.3.4', 'é'),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 10 }), (parts) => {
        const text = parts.join('');
        expect(asArray(ipv6s(text))).toEqual(byRule(text));
      }),
      { numRuns: 10000 },
    );
  });
});

describe('the IPv4 scanner', () => {
  test('finds the addresses the ipv4 rule finds (its pattern, then its check)', () => {
    const rule = MASK_RULES.find((r) => r.name === 'ipv4')!;
    const byRule = (text: string): number[] =>
      [...text.matchAll(new RegExp(rule.pattern.source, rule.pattern.flags))]
        .filter((m) => rule.accept!(m[0], text, m.index))
        .flatMap((m) => [m.index, m.index, m.index + m[0].length, m.index + m[0].length]);
    const everyAddress = (text: string, start: number, end: number): boolean => text.slice(start, end).length > 0;
    const piece = fc.oneof(
      fc.ipV4(),
      fc.constantFrom('8.8.8.8', '10.0.0.1', '203.0.113.9', '1.2.3.4.5', '01.2.3.4', '256.1.1.1', '1234.1.1.1', '1.2.3.1000'),
      fc.string({ unit: fc.constantFrom(...'0123456789.'.split('')), maxLength: 20 }),
      fc.constantFrom(' ', '.', '..', '_', 'a', 'Z', '-', '/', 'v/', 'x/', '@', 'é', ':'),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 10 }), (parts) => {
        const text = parts.join('');
        expect(asArray(rule.scan!(text))).toEqual(byRule(text));
        // Every address-shaped match, whatever the check says (the scanner's own reading of the pattern).
        expect(asArray(ipv4s(text, everyAddress))).toEqual(
          [...text.matchAll(new RegExp(rule.pattern.source, rule.pattern.flags))].flatMap((m) => [
            m.index,
            m.index,
            m.index + m[0].length,
            m.index + m[0].length,
          ]),
        );
        expect(isPublicIPv4At(` ${text} `, 1, text.length + 1)).toBe(isPublicIPv4(text));
      }),
      { numRuns: 10000 },
    );
  });
});

describe('decode', () => {
  test('a long run of escapes decodes whole, each character mapped to its escape (past one block of code units)', () => {
    const text = '%40'.repeat(5000) + 'a' + '%C3%A9'.repeat(3000) + '&#64;x';
    const d = decode(text)!;
    expect(d.text).toBe('@'.repeat(5000) + 'a' + 'é'.repeat(3000) + '@x');
    expect(d.map[4999]).toBe(3 * 4999);
    expect(d.map[5000]).toBe(15000);
    expect(d.map[5001]).toBe(15001);
    expect(d.map[8001]).toBe(15001 + 6 * 3000);
    expect(d.map[d.text.length]).toBe(text.length);
  });
});
