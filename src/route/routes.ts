import { readFileSync } from 'node:fs';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { SEVERITIES, type Severity } from '../model/severity';
import { formatMatcher, matches, MatcherError, parseMatchers, type Matcher } from './matchers';

/**
 * Routes: which team's Slack channel and PagerDuty service get a notification, whether the
 * model narrates it and which tenant it belongs to. An ordered list, first match wins, with
 * Alertmanager's matcher syntax over the group's common labels (and, optionally, the
 * Alertmanager receiver's name). The file's shape is a contract (README, "Routes").
 */

const severity = z.enum(SEVERITIES);
const nonEmpty = z.string().trim().min(1);

const slackSchema = z.union([
  z.strictObject({ channel: nonEmpty }),
  z.strictObject({ webhookUrl: z.url({ protocol: /^https?$/ }) }),
  z.strictObject({ webhookUrlFile: nonEmpty }),
  z.literal('none'),
]);

const pagerdutySchema = z.union([
  z.strictObject({ routingKey: nonEmpty }),
  z.strictObject({ routingKeyFile: nonEmpty }),
  z.literal('none'),
  z.null(),
]);

const routeSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only (at most 64): it becomes a metric label'),
  matchers: z.array(z.string()).default([]),
  /** Matches the webhook's `receiver` (the Alertmanager receiver's name) exactly. */
  receiver: nonEmpty.optional(),
  slack: slackSchema.optional(),
  pagerduty: pagerdutySchema.optional(),
  minSeverity: z.strictObject({ slack: severity.optional(), pagerduty: severity.optional() }).optional(),
  narrate: z.boolean().default(true),
  tenant: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only (at most 64)')
    .optional(),
  links: z.array(z.strictObject({ title: nonEmpty.max(75), url: z.url({ protocol: /^https?$/ }) })).default([]),
  /** New top-level Slack messages per minute for this route; past it, one roll-up message. */
  slackPerMinute: z.number().int().min(1).optional(),
  /** Record to Loki only: no Slack message, no page. */
  quiet: z.boolean().default(false),
});

const tenantName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only (at most 64)');
const httpUrl = z.url({ protocol: /^https?$/ });

/** Per-tenant back ends; everything unset falls back to the service-wide variables. */
const tenantSchema = z.strictObject({
  /** X-Scope-OrgID sent to Loki, Tempo and Prometheus (Mimir/Cortex); default: the tenant's name. */
  orgId: nonEmpty.optional(),
  lokiUrl: httpUrl.optional(),
  prometheusUrl: httpUrl.optional(),
  tempoUrl: httpUrl.optional(),
  /** A file holding `user:password`, sent as basic auth to this tenant's Loki, Prometheus and Tempo. */
  basicAuthFile: nonEmpty.optional(),
});

const fileSchema = z.strictObject({
  routes: z.array(routeSchema).min(1, 'at least one route'),
  tenants: z.record(tenantName, tenantSchema).default({}),
});

/** A tenant's settings with its secret file read. */
export interface TenantSettings {
  orgId: string;
  lokiUrl?: string;
  prometheusUrl?: string;
  tempoUrl?: string;
  /** `user:password` for basic auth. */
  basicAuth?: string;
}

type RawRoute = z.infer<typeof routeSchema>;

export type SlackTarget = { channel: string } | { webhookUrl: string } | 'none';
export type PagerDutyTarget = { routingKey: string } | 'none';

/** A route ready to use: matchers parsed, secret files read. */
export interface Route {
  name: string;
  matchers: Matcher[];
  receiver?: string;
  /** Unset: the service-wide Slack settings (SLACK_CHANNEL / SLACK_WEBHOOK_URL). */
  slack?: SlackTarget;
  /** Unset: the service-wide PAGERDUTY_ROUTING_KEY. */
  pagerduty?: PagerDutyTarget;
  minSeverity: { slack?: Severity; pagerduty?: Severity };
  narrate: boolean;
  tenant?: string;
  links: { title: string; url: string }[];
  slackPerMinute?: number;
  quiet: boolean;
}

/** What a route is matched against. */
export interface RouteInput {
  labels: Readonly<Record<string, string>>;
  receiver?: string;
}

export class RoutesFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n  ${problems.join('\n  ')}`);
    this.name = 'RoutesFileError';
  }
}

/** The route used when there is no ROUTES_FILE: today's variables, one default route. */
export const DEFAULT_ROUTE: Route = { name: 'default', matchers: [], minSeverity: {}, narrate: true, links: [], quiet: false };

export type ReadFile = (path: string) => string;
const readText: ReadFile = (p) => readFileSync(p, 'utf8');

/** Loads and validates a routes file; every problem is reported with its line. */
export function loadRoutesFile(path: string, readFile: ReadFile = readText): RoutesFile {
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    throw new RoutesFileError(path, [`cannot read the file (${(e as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  return parseRoutesFile(text, path, readFile);
}

export function parseRoutes(text: string, file = 'routes', readFile: ReadFile = readText): Route[] {
  return parseRoutesFile(text, file, readFile).routes;
}

export interface RoutesFile {
  routes: Route[];
  tenants: Record<string, TenantSettings>;
}

export function parseRoutesFile(text: string, file = 'routes', readFile: ReadFile = readText): RoutesFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => (offset === undefined ? '' : `line ${lines.linePos(offset).line}: `);
  const problems = doc.errors.map((e) => `${at(e.pos[0])}${e.message.split('\n')[0]}`);
  if (problems.length) throw new RoutesFileError(file, problems);

  const raw: unknown = doc.toJS();
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.map(String);
      problems.push(`${at(offsetOf(doc, path))}${path.join('.') || '(file)'}: ${issue.message}`);
    }
  }
  // Matchers and names are checked on the raw routes too, so one run reports every problem.
  const rawRoutes = (raw as { routes?: unknown } | null)?.routes;
  const names = new Set<string>();
  const matchersByRoute: Matcher[][] = [];
  (Array.isArray(rawRoutes) ? (rawRoutes as unknown[]) : []).forEach((r, i) => {
    const where = (...p: (string | number)[]) => at(offsetOf(doc, ['routes', String(i), ...p.map(String)]));
    const route = (r ?? {}) as { name?: unknown; matchers?: unknown; receiver?: unknown };
    if (
      route.name === DEFAULT_ROUTE.name &&
      ((Array.isArray(route.matchers) && route.matchers.length > 0) || route.receiver !== undefined)
    ) {
      problems.push(`${where('name')}routes.${i}.name: "default" is reserved for a catch-all route (no matchers, no receiver)`);
    }
    if (typeof route.name === 'string') {
      if (names.has(route.name)) problems.push(`${where('name')}routes.${i}.name: "${route.name}" is used twice`);
      names.add(route.name);
    }
    const list: Matcher[] = [];
    (Array.isArray(route.matchers) ? (route.matchers as unknown[]) : []).forEach((m, j) => {
      if (typeof m !== 'string') return;
      try {
        list.push(...parseMatchers(m));
      } catch (e) {
        if (!(e instanceof MatcherError)) throw e;
        problems.push(`${where('matchers', j)}routes.${i}.matchers.${j}: ${e.message}`);
      }
    });
    matchersByRoute.push(list);
  });
  if (!parsed.success || problems.length) throw new RoutesFileError(file, problems);

  const routes: Route[] = [];
  parsed.data.routes.forEach((r, i) => {
    try {
      routes.push(resolve(r, matchersByRoute[i] ?? [], readFile));
    } catch (e) {
      problems.push(`${at(offsetOf(doc, ['routes', String(i)]))}routes.${i} (${r.name}): ${(e as Error).message}`);
    }
  });
  const tenants: Record<string, TenantSettings> = {};
  for (const [name, t] of Object.entries(parsed.data.tenants)) {
    let basicAuth: string | undefined;
    if (t.basicAuthFile) {
      try {
        basicAuth = readFile(t.basicAuthFile).trim();
        if (!/^[^:]+:.+$/.test(basicAuth))
          problems.push(`${at(offsetOf(doc, ['tenants', name, 'basicAuthFile']))}tenants.${name}.basicAuthFile: must hold user:password`);
      } catch (e) {
        problems.push(
          `${at(offsetOf(doc, ['tenants', name, 'basicAuthFile']))}tenants.${name}.basicAuthFile: cannot read ${t.basicAuthFile} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
        );
      }
    }
    tenants[name] = {
      orgId: t.orgId ?? name,
      ...(t.lokiUrl ? { lokiUrl: t.lokiUrl } : {}),
      ...(t.prometheusUrl ? { prometheusUrl: t.prometheusUrl } : {}),
      ...(t.tempoUrl ? { tempoUrl: t.tempoUrl } : {}),
      ...(basicAuth ? { basicAuth } : {}),
    };
  }
  if (problems.length) throw new RoutesFileError(file, problems);
  return { routes, tenants };
}

/** The source offset of a node by its path, for line numbers in errors. */
function offsetOf(doc: Document, path: string[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(
      path.slice(0, n).map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
      true,
    );
    if (isNode(node) && node.range) return node.range[0];
  }
  return undefined;
}

function resolve(raw: RawRoute, matchers: Matcher[], readFile: ReadFile): Route {
  const secret = (path: string, what: string) => {
    let v: string;
    try {
      v = readFile(path).trim();
    } catch (e) {
      throw new Error(`${what}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (!v) throw new Error(`${what}: ${path} is empty`);
    return v;
  };
  let slack: SlackTarget | undefined;
  if (raw.slack === 'none') slack = 'none';
  else if (raw.slack && 'channel' in raw.slack) slack = { channel: raw.slack.channel };
  else if (raw.slack && 'webhookUrl' in raw.slack) slack = { webhookUrl: raw.slack.webhookUrl };
  else if (raw.slack && 'webhookUrlFile' in raw.slack) {
    const url = secret(raw.slack.webhookUrlFile, 'slack.webhookUrlFile');
    if (!/^https?:\/\//.test(url)) throw new Error(`slack.webhookUrlFile: ${raw.slack.webhookUrlFile} does not hold an http(s) URL`);
    slack = { webhookUrl: url };
  }
  let pagerduty: PagerDutyTarget | undefined;
  if (raw.pagerduty === 'none' || raw.pagerduty === null) pagerduty = 'none';
  else if (raw.pagerduty && 'routingKey' in raw.pagerduty) pagerduty = { routingKey: raw.pagerduty.routingKey };
  else if (raw.pagerduty && 'routingKeyFile' in raw.pagerduty)
    pagerduty = { routingKey: secret(raw.pagerduty.routingKeyFile, 'pagerduty.routingKeyFile') };
  return {
    name: raw.name,
    matchers,
    ...(raw.receiver ? { receiver: raw.receiver } : {}),
    ...(slack ? { slack } : {}),
    ...(pagerduty ? { pagerduty } : {}),
    minSeverity: raw.minSeverity ?? {},
    narrate: raw.narrate,
    ...(raw.tenant ? { tenant: raw.tenant } : {}),
    links: raw.links,
    ...(raw.slackPerMinute ? { slackPerMinute: raw.slackPerMinute } : {}),
    quiet: raw.quiet,
  };
}

/** One step of a route decision, for `routes test`. */
export interface RouteCheck {
  route: string;
  matched: boolean;
  /** Why it matched or which condition failed. */
  reasons: string[];
}

/** Checks one route against a group; every condition is explained. */
export function checkRoute(route: Route, input: RouteInput): RouteCheck {
  const reasons: string[] = [];
  let matched = true;
  if (route.receiver !== undefined) {
    const ok = input.receiver === route.receiver;
    matched &&= ok;
    reasons.push(`receiver="${route.receiver}" ${ok ? 'matches' : `does not match (receiver is "${input.receiver ?? ''}")`}`);
  }
  for (const m of route.matchers) {
    const ok = matches(m, input.labels);
    matched &&= ok;
    const actual = input.labels[m.name];
    reasons.push(
      `${formatMatcher(m)} ${ok ? 'matches' : 'does not match'} (${m.name} ${actual === undefined ? 'is not set' : `is "${actual}"`})`,
    );
  }
  if (reasons.length === 0) reasons.push('no matchers: matches everything');
  return { route: route.name, matched, reasons };
}

/** First match wins; a file without a catch-all falls back to the default route. */
export function selectRoute(routes: readonly Route[], input: RouteInput): Route {
  for (const r of routes) if (checkRoute(r, input).matched) return r;
  return DEFAULT_ROUTE;
}

/** Every route's decision up to and including the first match, for `routes test`. */
export function explainRoute(routes: readonly Route[], input: RouteInput): { route: Route; checks: RouteCheck[] } {
  const checks: RouteCheck[] = [];
  for (const r of routes) {
    const check = checkRoute(r, input);
    checks.push(check);
    if (check.matched) return { route: r, checks };
  }
  return { route: DEFAULT_ROUTE, checks };
}
