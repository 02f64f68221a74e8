import type { Analysis, Finding } from '../model/analysis';
import type { AnnotationRecord } from '../model/record';
import type { Verdict } from '../model/verdict';
import { normaliseSeverity } from './routing';

/**
 * The verdict of a note, from facts the analysis established (pure; the table test in
 * test/publish-verdict.test.ts pins every row). The model has no say: a verdict must not
 * move when the narrator changes, fails or is switched off.
 */
export interface VerdictFacts {
  /** The alert's severity label as received (any spelling routing.ts knows). */
  severity: string;
  /** The analysis's confidence (not the narrator's). */
  confidence: Analysis['confidence'];
  /** A suspect above the naming threshold was ranked. */
  hasSuspect: boolean;
  /** A change (deploy, config, flag) was found in the window: a finding of kind `change`. */
  hasChange: boolean;
  /** The alert's history says it flaps: a `history` finding that says so. */
  flapping: boolean;
  /** A source failed or was not queried (a `source` finding): missing evidence is not evidence of health. */
  sourcesMissing: boolean;
}

/** Finding kinds added by other stages are matched by name, so this reads them as soon as they exist. */
function kindOf(f: Pick<Finding, 'kind'>): string {
  return f.kind;
}

/** A history finding says the alert flaps when its text says "flapping" (or "flaps"). */
const FLAPPING = /\bflap(?:s|ping|ped)?\b/i;

export function verdictFacts(severity: string, analysis: Pick<Analysis, 'confidence' | 'suspects' | 'findings'>): VerdictFacts {
  const kinds = analysis.findings.map(kindOf);
  return {
    severity,
    confidence: analysis.confidence,
    hasSuspect: analysis.suspects.length > 0,
    hasChange: kinds.includes('change'),
    flapping: analysis.findings.some((f) => kindOf(f) === 'history' && FLAPPING.test(f.text)),
    sourcesMissing: kinds.includes('source'),
  };
}

/**
 * - A change that lines up with a suspect, or a confident suspect of a page-worthy alert
 *   (critical/error): *Action required*.
 * - A flapping alert with nothing new (no change, no confident suspect): *Likely noise*.
 * - Nothing found: *Likely noise* for a low-severity alert whose sources all answered;
 *   otherwise *Inconclusive* (a critical alert is never called noise on absent evidence).
 * - A suspect or a change otherwise: *Investigate*, unless the suspect is weak and the
 *   alert low-severity, which stays *Inconclusive*.
 */
export function deriveVerdict(f: VerdictFacts): Verdict {
  const sev = normaliseSeverity(f.severity);
  const pages = sev === 'critical' || sev === 'error';
  if (f.hasChange && f.hasSuspect && f.confidence !== 'low') return 'action_required';
  if (f.flapping && !f.hasChange && f.confidence !== 'high') return 'likely_noise';
  if (!f.hasSuspect && !f.hasChange) return !pages && !f.sourcesMissing ? 'likely_noise' : 'inconclusive';
  if (f.hasSuspect && f.confidence !== 'low' && pages) return 'action_required';
  if (f.hasChange || f.confidence !== 'low' || pages) return 'investigate';
  return 'inconclusive';
}

export function verdictOf(severity: string, analysis: Pick<Analysis, 'confidence' | 'suspects' | 'findings'>): Verdict {
  return deriveVerdict(verdictFacts(severity, analysis));
}

/** The record's verdict, or one derived from its own fields for records written before verdicts existed. */
export function verdictOfRecord(r: AnnotationRecord): Verdict {
  return r.verdict ?? verdictOf(r.severity, r);
}
