import type { EvidenceBundle } from '../gather/evidence';
import type { Analysis, Finding } from './types';

/**
 * Evidence → findings. Pure: the same bundle always gives the same analysis.
 * This first version reports what the sources did; the metric, log and trace analyses
 * plug in here.
 */
export function analyze(bundle: EvidenceBundle): Analysis {
  const findings: Finding[] = [];
  let n = 0;
  for (const s of bundle.sources ?? []) {
    if (s.status === 'ok') continue;
    findings.push({
      id: `S${++n}`,
      kind: 'source',
      text: `${s.source}: ${s.status}${s.detail ? ` (${s.detail})` : ''}`,
    });
  }
  return { findings, suspects: [], relatedTraceIds: [], confidence: 'low' };
}
