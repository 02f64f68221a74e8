import { VERDICT_LABELS } from '../src/model/verdict';
import { deriveVerdict, verdictFacts, type VerdictFacts } from '../src/publish/verdict';
import type { Analysis } from '../src/model/analysis';

const base: VerdictFacts = {
  severity: 'critical',
  confidence: 'medium',
  hasSuspect: true,
  hasChange: false,
  flapping: false,
  sourcesMissing: false,
};

describe('the verdict of a note', () => {
  it.each<[string, Partial<VerdictFacts>, string]>([
    ['a confident suspect of a critical alert', {}, 'Action required'],
    ['a confident suspect of an error alert', { severity: 'error' }, 'Action required'],
    ['a high-confidence suspect of a page-spelled severity', { severity: 'P1', confidence: 'high' }, 'Action required'],
    ['a change that lines up with a suspect, even on a warning', { severity: 'warning', hasChange: true }, 'Action required'],
    ['a confident suspect of a warning', { severity: 'warning' }, 'Investigate'],
    ['a weak suspect of a critical alert', { confidence: 'low' }, 'Investigate'],
    ['a change with only a weak suspect', { severity: 'info', confidence: 'low', hasChange: true }, 'Investigate'],
    ['a change without any suspect', { severity: 'warning', confidence: 'low', hasSuspect: false, hasChange: true }, 'Investigate'],
    ['a weak suspect of a warning', { severity: 'warning', confidence: 'low' }, 'Inconclusive'],
    ['nothing found for a critical alert', { confidence: 'low', hasSuspect: false }, 'Inconclusive'],
    [
      'nothing found for a warning while a source was missing',
      { severity: 'warning', confidence: 'low', hasSuspect: false, sourcesMissing: true },
      'Inconclusive',
    ],
    [
      'nothing found for a warning with every source answering',
      { severity: 'warning', confidence: 'low', hasSuspect: false },
      'Likely noise',
    ],
    ['nothing found for an alert without severity', { severity: '', confidence: 'low', hasSuspect: false }, 'Likely noise'],
    ['a flapping alert with a medium suspect and no change', { flapping: true }, 'Likely noise'],
    ['a flapping alert whose suspect is strong', { flapping: true, confidence: 'high' }, 'Action required'],
    ['a flapping alert with a change and a suspect', { flapping: true, hasChange: true }, 'Action required'],
  ])('%s is read as the given verdict (%#)', (_name, facts, expected) => {
    expect(VERDICT_LABELS[deriveVerdict({ ...base, ...facts })]).toBe(expected);
  });

  it('reads changes, flapping history and missing sources from the findings by kind', () => {
    const analysis = {
      confidence: 'medium',
      suspects: [{ service: 'payments', indicator: 'error spans', score: 4 }],
      findings: [
        { id: 'C1', kind: 'change', text: 'deploy payments v1.4.2 at 22:38' },
        { id: 'H1', kind: 'history', text: 'fired 9 times in 24 h, flapping (median 3 min)' },
        { id: 'S1', kind: 'source', text: 'tempo: failed' },
      ],
    } as unknown as Analysis;
    expect(verdictFacts('warning', analysis)).toEqual({
      severity: 'warning',
      confidence: 'medium',
      hasSuspect: true,
      hasChange: true,
      flapping: true,
      sourcesMissing: true,
    });
    const quiet = { ...analysis, findings: [{ id: 'H1', kind: 'history', text: 'fired twice in 7 days' }] } as unknown as Analysis;
    expect(verdictFacts('warning', quiet)).toMatchObject({ hasChange: false, flapping: false, sourcesMissing: false });
  });
});
