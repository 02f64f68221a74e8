import { readFileSync } from 'node:fs';
import { z } from 'zod';
import defaults from '../../deploy/related-queries.json';

/**
 * Related-query templates (format: deploy/related-queries.md). `{{label}}` stands for the
 * alert's value of that label, escaped for a PromQL double-quoted string; a template is
 * used for an alert only when the alert carries every label the template names.
 */

const relatedQuerySchema = z.object({
  /** What the series measures, as findings print it ("p99 latency"). */
  name: z.string().min(1),
  /** "s", "ratio", "bytes", "%", "cores", "req/s" … printed after values. */
  unit: z.string().optional(),
  query: z.string().min(1),
});

const relatedQueriesFileSchema = z.looseObject({
  queries: z.array(relatedQuerySchema),
});

export type RelatedQuery = z.infer<typeof relatedQuerySchema>;

export interface RenderedQuery {
  name: string;
  unit?: string;
  query: string;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Escapes a value for a PromQL double-quoted string (https://prometheus.io/docs/prometheus/latest/querying/basics/#string-literals). */
function promqlEscape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The template with the alert's labels filled in, or undefined when a label is missing. */
export function renderTemplate(t: RelatedQuery, labels: Readonly<Record<string, string>>): RenderedQuery | undefined {
  let missing = false;
  const query = t.query.replace(PLACEHOLDER, (_m, name: string) => {
    const v = labels[name];
    if (v === undefined || v === '') {
      missing = true;
      return '';
    }
    return promqlEscape(v);
  });
  if (missing) return undefined;
  return { name: t.name, ...(t.unit ? { unit: t.unit } : {}), query };
}

export function defaultRelatedQueries(): RelatedQuery[] {
  return relatedQueriesFileSchema.parse(defaults).queries;
}

/** Reads the user's file (RELATED_QUERIES_FILE); a bad file is a start-up error naming the file. */
export function loadRelatedQueries(file: string | undefined): RelatedQuery[] {
  if (!file) return defaultRelatedQueries();
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`RELATED_QUERIES_FILE ${file}: ${(err as Error).message}`);
  }
  const parsed = relatedQueriesFileSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new Error(`RELATED_QUERIES_FILE ${file}: ${first ? `${first.path.join('.')}: ${first.message}` : 'invalid'}`);
  }
  return parsed.data.queries;
}
