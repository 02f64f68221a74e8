/** Numbers and times as they read in a finding: three significant digits, a unit, UTC clock time. */

function sig(v: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1000) return Math.round(v).toString();
  return Number(v.toPrecision(3)).toString();
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatValue(v: number, unit?: string): string {
  if (!Number.isFinite(v)) return String(v);
  switch (unit) {
    case 'ratio':
      return `${sig(v * 100)}%`;
    case 'bytes': {
      let x = v;
      let i = 0;
      while (Math.abs(x) >= 1024 && i < BYTE_UNITS.length - 1) {
        x /= 1024;
        i++;
      }
      return `${sig(x)} ${BYTE_UNITS[i]}`;
    }
    case '%':
      return `${sig(v)}%`;
    case undefined:
    case '':
      return sig(v);
    default:
      return `${sig(v)} ${unit}`;
  }
}

/** "02:14 UTC" for the same day as `ref`, otherwise "2026-11-20 23:58 UTC". */
export function formatClock(unixSeconds: number, ref?: Date): string {
  const d = new Date(unixSeconds * 1000);
  const iso = d.toISOString();
  const sameDay = ref ? ref.toISOString().slice(0, 10) === iso.slice(0, 10) : true;
  return `${sameDay ? '' : `${iso.slice(0, 10)} `}${iso.slice(11, 16)} UTC`;
}

export function formatDurationMs(ms: number): string {
  return ms >= 1000 ? `${sig(ms / 1000)} s` : `${sig(ms)} ms`;
}

export function formatPercent(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

/**
 * Log templates, span names and messages are quoted and clipped so a finding stays one
 * line. Backslashes and quotes inside are escaped (JSON style), so the quotation ends where
 * it seems to: `a" Root cause is x "b` cannot close it early and read as our own words.
 */
export function quote(s: string, max = 120): string {
  const one = s.replace(/\s+/g, ' ').trim();
  const cut = one.length > max ? `${one.slice(0, max - 1)}…` : one;
  return `"${cut.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
