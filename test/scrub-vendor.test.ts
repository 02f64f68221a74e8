import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { vendorRuleIds, vendorTokens, windowedRuleIds } from '../src/scrub/vendor';

/**
 * Vendor token formats come from secretlint's recommended preset (src/scrub/vendor.ts).
 * The scrubber runs its rules only on text that passes a cheap literal gate; these tests
 * hold the gate to the rules: gated and ungated runs report the same tokens.
 */
const corpus = readFileSync(join(__dirname, 'fixtures', 'scrub-corpus.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => (JSON.parse(l) as { line: string }).line);

const sorted = (r: [string, number, number][]): string[] => r.map((x) => x.join(' ')).sort();

describe('vendor tokens from the secretlint preset', () => {
  test('the preset brings its token rules (npm, GitHub, GitLab, Slack, AWS, …)', () => {
    for (const id of ['aws', 'npm', 'github', 'gitlab', 'slack', 'grafana', 'hashicorp-vault', 'sendgrid'])
      expect(vendorRuleIds()).toContain(`@secretlint/secretlint-rule-${id}`);
  });

  test('every rule in use finds a token somewhere in the corpus', () => {
    const seen = new Set(corpus.flatMap((l) => vendorTokens(l).map(([id]) => id)));
    expect(vendorRuleIds().filter((id) => !seen.has(id))).toEqual([]);
  });

  test('the gate loses nothing on the corpus', () => {
    for (const line of corpus) expect(sorted(vendorTokens(line))).toEqual(sorted(vendorTokens(line, false)));
  });

  test('the gate loses nothing on random text around random tokens of every format', () => {
    const alnum = fc.stringMatching(/^[A-Za-z0-9_+/=.-]{0,130}$/);
    const prefixes = [
      'npm_',
      'ghp_',
      'github_pat_',
      'glpat-',
      'glc_',
      'glsa_',
      'xoxb-1-',
      'xapp-1-',
      'SG.',
      'shpat_',
      'sk-',
      'sk-ant-api03-',
      'gsk_',
      'hf_',
      'lin_api_',
      'ntn_',
      'ops_ey',
      'hvs.',
      'vcp_',
      'dapi',
      'dckr_pat_',
      'figd_',
      'AKIA',
      'aws_secret_access_key=',
    ];
    fc.assert(
      fc.property(
        fc.string({ maxLength: 20 }),
        fc.constantFrom(...prefixes),
        alnum,
        fc.string({ maxLength: 20 }),
        (before, prefix, body, after) => {
          const text = `${before}${prefix}${body}${after}`;
          expect(sorted(vendorTokens(text))).toEqual(sorted(vendorTokens(text, false)));
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('the plain token rules (npm, GitHub, GitLab, …) are read from the preset and run on windows', () => {
    for (const id of ['npm', 'github', 'gitlab', 'docker', 'hashicorp-vault'])
      expect(windowedRuleIds()).toContain(`@secretlint/secretlint-rule-${id}`);
    // Rules with other shapes run as secretlint runs them.
    for (const id of ['aws', 'slack', 'grafana', '1password']) expect(windowedRuleIds()).not.toContain(`@secretlint/secretlint-rule-${id}`);
  });

  test('windows lose nothing and add nothing on runs of prefixes, token characters and separators', () => {
    // Overlapping prefixes (glpat-glpat-…), runs just under, at and over each length, letters before a prefix.
    const piece = fc.oneof(
      fc.constantFrom(
        'npm_',
        'ghp_',
        'gho_',
        'github_pat_',
        'glpat-',
        'hvs.',
        'dckr_pat_',
        'vcp_',
        'shpat_',
        'hf_',
        'é',
        ' ',
        '-',
        '_',
        '.',
        '=',
      ),
      fc.integer({ min: 1, max: 140 }).map((n) => 'aZ0'.repeat(n).slice(0, n)),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const text = pieces.join('');
        expect(sorted(vendorTokens(text))).toEqual(sorted(vendorTokens(text, false)));
      }),
      { numRuns: 3000 },
    );
  });
});
