import type { Alert, WebhookPayload } from '../model/alert';
import { explainRoute, type Route, type RouteCheck } from './routes';

/**
 * A notification becomes one unit of work per tenant: alerts whose TENANT_LABEL differs are
 * split before anything is gathered, so no prompt, evidence bundle, record, Slack message or
 * span ever mixes two tenants. Each part then takes the first route its common labels match.
 */
export interface RoutedPart {
  /** The part's own payload: its alerts only, common labels and annotations recomputed. */
  payload: WebhookPayload;
  route: Route;
  /** The route's tenant, else the alerts' TENANT_LABEL value; undefined: the service-wide one. */
  tenant?: string;
  checks: RouteCheck[];
}

export interface PlanOptions {
  routes: readonly Route[];
  tenantLabel?: string;
}

/** Labels (or annotations) every alert has with the same value: Alertmanager's commonLabels. */
function common(alerts: readonly Alert[], pick: (a: Alert) => Record<string, string>): Record<string, string> {
  const [first, ...rest] = alerts;
  if (!first) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(pick(first))) if (rest.every((a) => pick(a)[k] === v)) out[k] = v;
  return out;
}

const tenantLabelPart = (labelTenant: string) => `label=${labelTenant}`;

/** The tenant-qualified group key: the unit of Slack messages, PagerDuty incidents and state. */
export function tenantGroupKey(groupKey: string, tenant: string | undefined): string {
  return tenant === undefined ? groupKey : `${groupKey}#tenant=${tenant}`;
}

export function splitByTenant(payload: WebhookPayload, tenantLabel: string | undefined): { tenant?: string; payload: WebhookPayload }[] {
  if (!tenantLabel) return [{ payload }];
  const byTenant = new Map<string, Alert[]>();
  for (const a of payload.alerts) {
    const t = a.labels[tenantLabel] ?? '';
    byTenant.set(t, [...(byTenant.get(t) ?? []), a]);
  }
  return [...byTenant].map(([tenant, alerts]) => {
    const t = tenant === '' ? undefined : tenant;
    const part: WebhookPayload = {
      ...payload,
      alerts,
      status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
      commonLabels: common(alerts, (a) => a.labels),
      commonAnnotations: common(alerts, (a) => a.annotations),
    };
    return t === undefined ? { payload: part } : { tenant: t, payload: part };
  });
}

/** Splits by tenant, then routes each part. Without routes, every part takes the default route. */
export function planRoutes(payload: WebhookPayload, opts: PlanOptions): RoutedPart[] {
  return splitByTenant(payload, opts.tenantLabel).map(({ tenant, payload: part }) => {
    const { route, checks } = explainRoute(opts.routes, { labels: part.commonLabels, receiver: part.receiver });
    const t = route.tenant ?? tenant;
    // The tenant-qualified group key keys Slack messages, PagerDuty incidents and publish state,
    // so the same Alertmanager group never shares them across tenants.
    let groupKey = tenantGroupKey(part.groupKey, t);
    if (tenant !== undefined && tenant !== t) groupKey = `${groupKey}#${tenantLabelPart(tenant)}`;
    return { payload: { ...part, groupKey }, route, checks, ...(t !== undefined ? { tenant: t } : {}) };
  });
}

/** What `alert-annotator routes test` prints: per part, each route tried and why. */
export function formatPlan(parts: readonly RoutedPart[]): string {
  const lines: string[] = [];
  for (const p of parts) {
    const head = `${p.payload.alerts.length} alert${p.payload.alerts.length === 1 ? '' : 's'} (${p.payload.status})`;
    lines.push(`${head}${p.tenant !== undefined ? `, tenant ${p.tenant}` : ''} → route "${p.route.name}"`);
    for (const c of p.checks) {
      lines.push(`  ${c.matched ? '✔' : '✘'} ${c.route}`);
      for (const r of c.reasons) lines.push(`      ${r}`);
    }
    if (!p.checks.some((c) => c.matched)) lines.push('  no route matched: the default route (SLACK_CHANNEL, PAGERDUTY_ROUTING_KEY)');
    const r = p.route;
    const slack = r.quiet
      ? 'none (quiet)'
      : r.slack === undefined
        ? 'service default'
        : r.slack === 'none'
          ? 'none'
          : 'channel' in r.slack
            ? r.slack.channel
            : 'incoming webhook';
    const pd = r.quiet
      ? 'none (quiet)'
      : r.pagerduty === undefined
        ? 'service default'
        : r.pagerduty === 'none'
          ? 'none'
          : 'routing key set';
    lines.push(`  slack: ${slack} · pagerduty: ${pd} · narrate: ${r.narrate ? 'yes' : 'no'}`);
  }
  return lines.join('\n');
}
