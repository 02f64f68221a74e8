import { createHash, timingSafeEqual } from 'node:crypto';

export interface AuthConfig {
  bearerToken?: string;
  /** `user:pass` */
  basicAuth?: string;
  /** WEBHOOK_AUTH=none: without credentials every request passes. Otherwise none does. */
  open?: boolean;
}

/** Compares digests so neither the length nor the content leaks through timing. */
function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/**
 * Checks the Authorization header Alertmanager sends (http_config.authorization or
 * basic_auth in the receiver). With both configured, either one is accepted; with neither,
 * every request passes only when the receiver was opened on purpose (WEBHOOK_AUTH=none),
 * and none does otherwise: a missing credential must not open the door.
 */
export function checkAuth(header: string | undefined, cfg: AuthConfig): boolean {
  if (!cfg.bearerToken && !cfg.basicAuth) return cfg.open === true;
  if (!header) return false;
  const space = header.indexOf(' ');
  if (space < 0) return false;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer' && cfg.bearerToken) return safeEqual(value, cfg.bearerToken);
  if (scheme === 'basic' && cfg.basicAuth) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    return safeEqual(decoded, cfg.basicAuth);
  }
  return false;
}
