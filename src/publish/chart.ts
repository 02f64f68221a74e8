import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg, type ResvgRenderOptions } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Analysis } from '../model/analysis';
import type { EvidenceBundle, Series } from '../model/evidence';
import { alertWindows, type WindowOptions } from '../model/window';

/**
 * The chart for the message's thread (issue 13 item 3), pure: evidence bundle + analysis →
 * Vega-Lite spec → SVG (Vega, no browser) → PNG (resvg, no native build). The top panel is the
 * alert's own expression over the baseline and incident windows, with its threshold and
 * startsAt marked; the panel below is the top suspect's anomalous series on the same time
 * axis. Times are UTC. A bundle with nothing to draw gives a reason, never a throw.
 */

export interface ChartOptions {
  /** The windows when the bundle does not record them (BASELINE_WINDOW_MIN, INCIDENT_LEAD_MIN). */
  windows?: WindowOptions;
  /**
   * Applied to every text written into the picture (titles, legend labels): the pipeline
   * passes the scrubber, so label values reach Slack as the card's text does.
   */
  text?: (s: string) => string;
  /** Width of each panel's plot in px (the PNG is a little wider for the axis and margins). */
  width?: number;
}

export interface ChartPanel {
  title: string;
  /** The legend's entries, in order. */
  series: string[];
  unit?: string;
  /** Series left out to keep the legend readable. */
  omitted: number;
}

export interface ChartPlan {
  spec: TopLevelSpec;
  alert: ChartPanel;
  /** The top suspect's series; absent when the analysis names none with a series (`noSuspect` says why). */
  suspect?: ChartPanel;
  noSuspect?: string;
  /** The comparisons of the alert expression drawn as rules ("> 1"). */
  thresholds: { op: string; value: number }[];
  /** Unix ms. */
  startsAt: number;
  windows: { baselineStart: number; incidentStart: number; end: number };
}

export type ChartResult = { png: Buffer; width: number; height: number; plan: ChartPlan } | { reason: string };

const PANEL_WIDTH = 720;
const PANEL_HEIGHT = 210;
const MAX_SERIES = 6;
const LEGEND_LABEL_MAX = 90;
const COMPARISON = /^(>=|<=|==|!=|>|<)$/;
const FLIPPED: Record<string, string> = { '>': '<', '<': '>', '>=': '<=', '<=': '>=', '==': '==', '!=': '!=' };

/**
 * The comparison of a PromQL alert expression with a number at its top level (`… > 1`,
 * `0.5 < …`, `… > bool 1`), or undefined when there is none, when there are several, or when
 * a set operator (and/or/unless) joins parts whose thresholds would not be one line.
 */
export function thresholdOf(expr: string): { op: string; value: number } | undefined {
  const tokens: { text: string; depth: number }[] = [];
  let depth = 0;
  let quote: string | undefined;
  let word = '';
  const flush = () => {
    if (word) tokens.push({ text: word, depth });
    word = '';
  };
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      flush();
      quote = c;
      tokens.push({ text: 'str', depth });
    } else if ('([{'.includes(c)) {
      flush();
      depth++;
    } else if (')]}'.includes(c)) {
      flush();
      depth--;
    } else if ('<>=!'.includes(c)) {
      flush();
      const two = expr.slice(i, i + 2);
      const op = ['>=', '<=', '==', '!=', '=~', '!~'].includes(two) ? two : c;
      i += op.length - 1;
      tokens.push({ text: op, depth });
    } else if (/\s/.test(c)) flush();
    else word += c;
  }
  flush();
  const top = tokens.filter((t) => t.depth === 0);
  if (top.some((t) => /^(and|or|unless)$/i.test(t.text))) return undefined;
  const ops = top.map((t, i) => (COMPARISON.test(t.text) ? i : -1)).filter((i) => i >= 0);
  if (ops.length !== 1) return undefined;
  const at = ops[0]!;
  const op = top[at]!.text;
  const right = top.slice(at + 1).filter((t) => t.text.toLowerCase() !== 'bool');
  const left = top.slice(0, at);
  const num = (ts: typeof top) =>
    ts.length === 1 && /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(ts[0]!.text) ? Number(ts[0]!.text) : NaN;
  // The number on either side; the literal must stand alone (`… > 2 * 3` is no line to draw).
  const value = num(right);
  if (Number.isFinite(value) && !(left.length === 1 && Number.isFinite(num(left)))) return { op, value };
  const flippedValue = num(left);
  // `1 < …`: the right side must be an expression, not another literal.
  if (Number.isFinite(flippedValue) && right.length > 0 && !Number.isFinite(num(right))) return { op: FLIPPED[op]!, value: flippedValue };
  return undefined;
}

/** What a series measures, as the analysis names it (analyze/metrics.ts describes the same way). */
function whatOf(s: Series): string {
  return s.name ?? s.labels.__name__ ?? (s.query !== null ? 'alert expression' : 'series');
}

/** Points of a series inside [from, to], finite only (Prometheus writes "NaN" on no traffic). */
function pointsOf(s: Series, from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  for (const [t, raw] of s.values) {
    const ms = t * 1000;
    const v = Number(raw);
    if (ms >= from && ms <= to && Number.isFinite(v)) out.push([ms, v]);
  }
  return out;
}

/**
 * A legend label per series: the labels that tell them apart (all of them for one series),
 * `name="value"` joined, clipped.
 */
function legendLabels(list: readonly Series[], text: (s: string) => string): string[] {
  const keys = [...new Set(list.flatMap((s) => Object.keys(s.labels)))].filter((k) => k !== '__name__').sort();
  const differing = keys.filter((k) => new Set(list.map((s) => s.labels[k] ?? '')).size > 1);
  const shown = list.length > 1 && differing.length ? differing : keys;
  return list.map((s, i) => {
    const label = shown
      .filter((k) => s.labels[k] !== undefined)
      .map((k) => `${k}="${s.labels[k]}"`)
      .join(', ');
    const clipped = clip(text(label || whatOf(s)), LEGEND_LABEL_MAX);
    // Two series with equal labels (one of them cut short) still get an entry each.
    return list.slice(0, i).some((_, j) => legendKey(list, j, shown) === legendKey(list, i, shown)) ? `${clipped} #${i + 1}` : clipped;
  });
}

function legendKey(list: readonly Series[], i: number, shown: string[]): string {
  return shown.map((k) => list[i]!.labels[k] ?? '').join('\u0000');
}

function clip(s: string, max: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** The strongest series first: the largest value inside the incident window. */
function byIncidentPeak(list: Series[], incidentStart: number, end: number): Series[] {
  const peak = (s: Series) => Math.max(-Infinity, ...pointsOf(s, incidentStart, end).map((p) => p[1]));
  return [...list].sort((a, b) => peak(b) - peak(a));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The top suspect's anomalous series. The analysis marks the series behind a finding by
 * what it measures and whose it is: a metric finding reads "<what> of <service> (<pod or
 * instance>) …" and a suspect's metric indicator "<what> up (z=…)". The series drawn are
 * those the finding names: same measure, a label naming the service (or its node, for a
 * node-wide series), and the qualifier when there is one.
 */
export function suspectSeries(
  bundle: Pick<EvidenceBundle, 'series'>,
  analysis: Pick<Analysis, 'findings' | 'suspects'>,
):
  | {
      service: string;
      what: string;
      indicator: string;
      series: Series[];
    }
  | undefined {
  const top = analysis.suspects[0];
  if (!top) return undefined;
  const service = top.service;
  const named = new RegExp(`^(.+?) of ${escapeRegExp(service)}(?: \\(([^)]+)\\))? `);
  const candidates: { what: string; qualifier?: string }[] = [];
  const fromIndicator = /^(.+) (?:up|down) \(z=/.exec(top.indicator)?.[1];
  for (const f of analysis.findings) {
    if (f.kind !== 'metric' || f.service !== service) continue;
    const m = named.exec(f.text);
    if (m) candidates.push({ what: m[1]!, ...(m[2] ? { qualifier: m[2] } : {}) });
  }
  // The indicator's own measure first: it is what made the suspect.
  candidates.sort((a, b) => Number(b.what === fromIndicator) - Number(a.what === fromIndicator));
  if (fromIndicator && !candidates.some((c) => c.what === fromIndicator)) candidates.push({ what: fromIndicator });
  for (const c of candidates) {
    const list = bundle.series.filter(
      (s) =>
        s.query === null &&
        whatOf(s) === c.what &&
        Object.values(s.labels).includes(service) &&
        (c.qualifier === undefined || Object.values(s.labels).includes(c.qualifier)),
    );
    if (list.length) return { service, what: c.what, indicator: top.indicator, series: list };
  }
  return undefined;
}

/** Axis labels in the series' unit (analyze/format.ts writes the same units). */
function valueAxis(unit: string | undefined, title: string): Record<string, unknown> {
  const expr: Record<string, string> = {
    s: "format(datum.value, '.3~s') + 's'",
    ratio: "format(datum.value, '.3~%')",
    '%': "format(datum.value, '.3~r') + '%'",
    bytes: "format(datum.value, '.3~s') + 'B'",
  };
  return { title, ...(unit && expr[unit] ? { labelExpr: expr[unit] } : { format: '~s' }), grid: true, tickCount: 5 };
}

/** The unit in the axis title, unless the labels carry it already. */
function axisTitle(what: string, unit: string | undefined): string {
  return unit && !['ratio', '%', 's', 'bytes'].includes(unit) ? `${what} (${unit})` : what;
}

function formatNumber(v: number, unit: string | undefined): string {
  const n = Number(v.toPrecision(3)).toString();
  if (unit === 'ratio') return `${Number((v * 100).toPrecision(3))}%`;
  return unit ? `${n} ${unit === 'bytes' ? 'B' : unit}` : n;
}

function utcClock(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 16)} UTC`;
}

/**
 * The value axis: every point and threshold, with room above the highest for the startsAt
 * label, and never below zero for a series that never is (no "-5%" under an error ratio).
 */
function valueDomain(p: Pick<PanelInput, 'points' | 'thresholds'>): [number, number] {
  const values = [...p.points.map((x) => x.v), ...p.thresholds.map((t) => t.value)];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const span = hi - lo || Math.abs(hi) || 1;
  const bottom = lo - 0.05 * span;
  return [lo >= 0 && bottom < 0 ? 0 : bottom, hi + 0.15 * span];
}

interface PanelInput {
  title: string;
  subtitle: string;
  unit?: string;
  yTitle: string;
  points: { t: number; v: number; series: string }[];
  order: string[];
  thresholds: { op: string; value: number }[];
}

/** One panel: shaded windows, the series, the threshold rules, the startsAt rule. */
function panelSpec(p: PanelInput, w: ChartPlan['windows'], startsAt: number, width: number, palette: string[]): Record<string, unknown> {
  // One x definition for every layer, so Vega-Lite merges them into one scale and one axis.
  const x = { field: 't', type: 'temporal', axis: { title: null, format: '%H:%M', labelOverlap: true, tickCount: 8, grid: false } };
  // The scale once, on the series: the other layers' times fall inside its domain.
  const xScaled = { ...x, scale: { type: 'utc', domain: [w.baselineStart, w.end], nice: false } };
  const windows = [
    { t: w.baselineStart, t2: w.incidentStart, name: 'baseline', fill: '#e3ebf5' },
    { t: w.incidentStart, t2: w.end, name: 'incident', fill: '#fbe0dc' },
  ];
  // Rules and their labels carry one empty row: a layer without data draws nothing.
  const one = { values: [{}] };
  // The startsAt label sits on the side of its rule with more room.
  const late = startsAt - w.baselineStart > 0.6 * (w.end - w.baselineStart);
  return {
    title: { text: p.title, subtitle: p.subtitle, anchor: 'start', fontSize: 14, subtitleFontSize: 11, subtitleColor: '#555', offset: 18 },
    width,
    height: PANEL_HEIGHT,
    layer: [
      {
        data: { values: windows },
        mark: { type: 'rect', opacity: 0.7 },
        encoding: { x, x2: { field: 't2' }, fill: { field: 'fill', type: 'nominal', scale: null, legend: null } },
      },
      // Window names just above the plot, where no line can cover them.
      {
        data: { values: windows },
        mark: { type: 'text', align: 'left', baseline: 'bottom', dx: 2, dy: -3, fontSize: 10, color: '#555' },
        encoding: { x, y: { value: 0 }, text: { field: 'name' } },
      },
      {
        data: { values: p.points },
        mark: { type: 'line', strokeWidth: 1.8, clip: true },
        encoding: {
          x: xScaled,
          y: { field: 'v', type: 'quantitative', scale: { domain: valueDomain(p), nice: true }, axis: valueAxis(p.unit, p.yTitle) },
          color: {
            field: 'series',
            type: 'nominal',
            scale: { domain: p.order, range: palette },
            legend: { title: null, orient: 'bottom', direction: 'vertical', labelLimit: width, symbolType: 'stroke', labelFontSize: 11 },
          },
        },
      },
      ...p.thresholds.flatMap((th) => {
        // Over the baseline, on the side of the rule the normal values are not.
        const above = th.op.startsWith('>');
        return [
          {
            data: one,
            mark: { type: 'rule', color: '#c0392b', strokeDash: [6, 4], strokeWidth: 1.5 },
            encoding: { y: { datum: th.value, type: 'quantitative' } },
          },
          {
            data: one,
            mark: {
              type: 'text',
              align: 'left',
              baseline: above ? 'bottom' : 'top',
              dx: 4,
              dy: above ? -3 : 3,
              fontSize: 11,
              color: '#c0392b',
            },
            encoding: {
              x: { value: 0 },
              y: { datum: th.value, type: 'quantitative' },
              text: { value: `threshold ${th.op} ${formatNumber(th.value, p.unit)}` },
            },
          },
        ];
      }),
      {
        data: one,
        mark: { type: 'rule', color: '#222', strokeDash: [3, 3], strokeWidth: 1.5 },
        encoding: { x: { type: 'temporal', datum: startsAt } },
      },
      {
        data: one,
        mark: {
          type: 'text',
          align: late ? 'right' : 'left',
          baseline: 'top',
          dx: late ? -4 : 4,
          dy: 4,
          fontSize: 11,
          fontWeight: 'bold',
          color: '#222',
        },
        encoding: { x: { type: 'temporal', datum: startsAt }, y: { value: 0 }, text: { value: `startsAt ${utcClock(startsAt)}` } },
      },
    ],
  };
}

const ALERT_PALETTE = ['#1f5fbf', '#6a3d9a', '#1b9e77', '#e6ab02', '#666666', '#a6761d'];
const SUSPECT_PALETTE = ['#d95f02', '#7570b3', '#e7298a', '#66a61e', '#666666', '#a6761d'];

/** The chart's Vega-Lite spec and what it shows, or why there is nothing to draw. */
export function chartSpec(bundle: EvidenceBundle, analysis: Analysis, opts: ChartOptions = {}): ChartPlan | { reason: string } {
  const text = opts.text ?? ((s: string) => s);
  const width = opts.width ?? PANEL_WIDTH;
  const now = new Date(bundle.now);
  if (Number.isNaN(now.getTime())) return { reason: 'the bundle has no valid analysis time' };
  const computed = alertWindows(bundle.payload.alerts, now, opts.windows);
  const recorded = bundle.windows;
  const windows = {
    baselineStart: recorded ? Date.parse(recorded.baselineStart) : computed.baselineStart.getTime(),
    incidentStart: recorded ? Date.parse(recorded.incidentStart) : computed.incidentStart.getTime(),
    end: recorded?.end ? Date.parse(recorded.end) : computed.end.getTime(),
  };
  const startsAt = computed.anchor.getTime();
  if (!(windows.baselineStart < windows.end)) return { reason: 'the windows are empty' };

  const own = bundle.series.filter((s) => s.query !== null && pointsOf(s, windows.baselineStart, windows.end).length >= 2);
  if (own.length === 0) return { reason: "the evidence holds no samples of the alert's own expression" };
  const alertSeries = byIncidentPeak(own, windows.incidentStart, windows.end).slice(0, MAX_SERIES);
  const alertLabels = legendLabels(alertSeries, text);
  const queries = [...new Set(alertSeries.map((s) => s.query!))];
  const thresholds = queries
    .map(thresholdOf)
    .filter((t): t is NonNullable<typeof t> => !!t)
    .filter((t, i, all) => all.findIndex((o) => o.op === t.op && o.value === t.value) === i)
    .slice(0, 3);
  const alertname = bundle.payload.commonLabels.alertname ?? bundle.payload.alerts[0]?.labels.alertname ?? 'alert';
  const unit = alertSeries[0]!.unit;
  const omittedAlert = own.length - alertSeries.length;
  const alertPanel: PanelInput = {
    title: clip(text(`${alertname}: the alert's expression`), 100),
    subtitle: clip(
      text(`${queries.length === 1 ? queries[0]! : `${queries.length} expressions`}`) +
        (omittedAlert ? ` (${omittedAlert} more series not drawn)` : ''),
      130,
    ),
    ...(unit ? { unit } : {}),
    yTitle: axisTitle('value', unit),
    points: alertSeries.flatMap((s, i) =>
      pointsOf(s, windows.baselineStart, windows.end).map(([t, v]) => ({ t, v, series: alertLabels[i]! })),
    ),
    order: alertLabels,
    thresholds,
  };

  const suspect = suspectSeries(bundle, analysis);
  let suspectPanel: PanelInput | undefined;
  let suspectInfo: ChartPanel | undefined;
  if (suspect) {
    const drawn = byIncidentPeak(
      suspect.series.filter((s) => pointsOf(s, windows.baselineStart, windows.end).length >= 2),
      windows.incidentStart,
      windows.end,
    ).slice(0, MAX_SERIES);
    if (drawn.length) {
      const labels = legendLabels(drawn, text);
      const sUnit = drawn[0]!.unit;
      const omitted = suspect.series.length - drawn.length;
      suspectPanel = {
        title: clip(text(`Top suspect: ${suspect.service}, ${suspect.what}`), 100),
        subtitle: clip(text(suspect.indicator) + (omitted ? ` (${omitted} more series not drawn)` : ''), 130),
        ...(sUnit ? { unit: sUnit } : {}),
        yTitle: axisTitle(suspect.what, sUnit),
        points: drawn.flatMap((s, i) => pointsOf(s, windows.baselineStart, windows.end).map(([t, v]) => ({ t, v, series: labels[i]! }))),
        order: labels,
        thresholds: [],
      };
      suspectInfo = { title: suspectPanel.title, series: labels, ...(sUnit ? { unit: sUnit } : {}), omitted };
    }
  }

  const noSuspect = suspectInfo
    ? undefined
    : analysis.suspects[0]
      ? `the top suspect (${text(analysis.suspects[0].service)}) has no series in the evidence`
      : 'no suspect named';
  const day = new Date(windows.baselineStart).toISOString().slice(0, 10);
  const panels = [
    panelSpec(alertPanel, windows, startsAt, width, ALERT_PALETTE),
    ...(suspectPanel ? [panelSpec(suspectPanel, windows, startsAt, width, SUSPECT_PALETTE)] : []),
  ];
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    background: 'white',
    padding: 16,
    config: {
      font: 'DejaVu Sans',
      view: { stroke: '#ccc' },
      axis: { labelFontSize: 11, titleFontSize: 11, labelColor: '#333', titleColor: '#333' },
      legend: { labelColor: '#333' },
      concat: { spacing: 28 },
    },
    title: {
      text: clip(text(`${alertname}, firing since ${utcClock(startsAt)}`), 100),
      subtitle: clip(`${day}, times in UTC · shaded: baseline and incident windows${noSuspect ? ` · ${noSuspect}` : ''}`, 130),
      anchor: 'start',
      fontSize: 16,
      subtitleFontSize: 11,
      subtitleColor: '#555',
      offset: 12,
    },
    vconcat: panels,
    resolve: { scale: { color: 'independent', y: 'independent' }, legend: { color: 'independent' } },
  } as unknown as TopLevelSpec;
  return {
    spec,
    alert: { title: alertPanel.title, series: alertLabels, ...(unit ? { unit } : {}), omitted: omittedAlert },
    ...(suspectInfo ? { suspect: suspectInfo } : {}),
    ...(noSuspect ? { noSuspect } : {}),
    thresholds,
    startsAt,
    windows,
  };
}

const FONT_DIRS = ['/usr/share/fonts/truetype/dejavu', '/usr/share/fonts/dejavu', '/usr/share/fonts/TTF', '/usr/local/share/fonts'];

/**
 * resvg's fonts, chosen explicitly: DejaVu Sans (Debian's fonts-dejavu-core, installed by
 * scripts/test-deps.sh and the Dockerfile) when present, so the picture reads the same
 * everywhere; otherwise whatever the system has.
 */
export function chartFonts(): NonNullable<ResvgRenderOptions['font']> {
  for (const dir of FONT_DIRS) {
    const regular = join(dir, 'DejaVuSans.ttf');
    if (!existsSync(regular)) continue;
    const bold = join(dir, 'DejaVuSans-Bold.ttf');
    return {
      fontFiles: [regular, ...(existsSync(bold) ? [bold] : [])],
      loadSystemFonts: false,
      defaultFontFamily: 'DejaVu Sans',
      sansSerifFamily: 'DejaVu Sans',
    };
  }
  return { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' };
}

/**
 * Advance widths of DejaVu Sans (em fractions): Vega measures text with a canvas, which a
 * server has not; its fallback guesses 0.8 em a character, which makes every title and legend
 * label look half again as long as it is and pads the picture with empty space.
 */
const ADVANCE: Record<string, number> = {
  ' ': 0.318,
  '.': 0.318,
  ',': 0.318,
  ':': 0.337,
  ';': 0.337,
  '"': 0.46,
  "'": 0.275,
  '(': 0.39,
  ')': 0.39,
  '[': 0.39,
  ']': 0.39,
  '{': 0.636,
  '}': 0.636,
  '=': 0.838,
  '<': 0.838,
  '>': 0.838,
  '-': 0.361,
  _: 0.5,
  '/': 0.337,
  '%': 0.95,
  '·': 0.318,
  '…': 1,
  a: 0.613,
  b: 0.635,
  c: 0.55,
  d: 0.635,
  e: 0.615,
  f: 0.352,
  g: 0.635,
  h: 0.634,
  i: 0.278,
  j: 0.278,
  k: 0.579,
  l: 0.278,
  m: 0.974,
  n: 0.634,
  o: 0.612,
  p: 0.635,
  q: 0.635,
  r: 0.411,
  s: 0.521,
  t: 0.392,
  u: 0.634,
  v: 0.592,
  w: 0.818,
  x: 0.592,
  y: 0.592,
  z: 0.525,
  A: 0.684,
  B: 0.686,
  C: 0.698,
  D: 0.77,
  E: 0.632,
  F: 0.575,
  G: 0.775,
  H: 0.752,
  I: 0.295,
  J: 0.295,
  K: 0.656,
  L: 0.557,
  M: 0.863,
  N: 0.748,
  O: 0.787,
  P: 0.603,
  Q: 0.787,
  R: 0.695,
  S: 0.635,
  T: 0.611,
  U: 0.732,
  V: 0.684,
  W: 0.989,
  X: 0.685,
  Y: 0.611,
  Z: 0.685,
};

function textWidth(text: string, fontSize: number, bold: boolean): number {
  let em = 0;
  for (const ch of text) em += ADVANCE[ch] ?? (/\d/.test(ch) ? 0.636 : 0.62);
  return em * fontSize * (bold ? 1.1 : 1);
}

interface TextItem {
  text?: unknown;
  fontSize?: number;
  fontWeight?: unknown;
}

const metrics = (vega as unknown as { textMetrics: { width: (item: TextItem, text?: unknown) => number } }).textMetrics;
metrics.width = (item, text) => {
  const t = text ?? item.text;
  const str = Array.isArray(t) ? t.join(' ') : t == null ? '' : String(t);
  return textWidth(str, item.fontSize ?? 11, item.fontWeight === 'bold' || Number(item.fontWeight) >= 600);
};

/** Vega-Lite → Vega → SVG, without a browser or any data loading (every value is inline). */
export async function specToSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = compile(spec, { logger: vega.logger(vega.None) }).spec;
  // No loader may fetch anything: a spec with a URL fails instead of reaching the network.
  const loader = vega.loader();
  loader.load = async () => {
    throw new Error('the chart loads no data');
  };
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader, logger: vega.logger(vega.None) });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string): { png: Buffer; width: number; height: number } {
  const rendered = new Resvg(svg, { font: chartFonts(), background: 'white', fitTo: { mode: 'original' } }).render();
  return { png: rendered.asPng(), width: rendered.width, height: rendered.height };
}

/** The PNG, or why there is none (nothing to draw, or the renderer failed). Never throws. */
export async function renderChart(bundle: EvidenceBundle, analysis: Analysis, opts: ChartOptions = {}): Promise<ChartResult> {
  let plan: ChartPlan | { reason: string };
  try {
    plan = chartSpec(bundle, analysis, opts);
  } catch (err) {
    return { reason: `the chart could not be planned (${(err as Error).message})` };
  }
  if ('reason' in plan) return plan;
  try {
    const { png, width, height } = svgToPng(await specToSvg(plan.spec));
    return { png, width, height, plan };
  } catch (err) {
    return { reason: `the chart could not be rendered (${(err as Error).message})` };
  }
}
