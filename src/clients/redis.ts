import { Cluster, Redis, type RedisOptions } from 'ioredis';

/**
 * Every Redis connection of the service, from the configuration: one server (REDIS_URL), a
 * Redis Cluster (REDIS_CLUSTER_NODES) or a master found through Sentinel (REDIS_SENTINELS,
 * REDIS_SENTINEL_NAME). README "Redis Cluster and Sentinel" and docs/operations.md say how.
 */

export interface RedisSettings {
  REDIS_URL: string;
  QUEUE_PREFIX: string;
  /** Seed nodes of a Redis Cluster; the rest are discovered. */
  REDIS_CLUSTER_NODES?: readonly HostPort[] | undefined;
  /** Sentinels that know the master named REDIS_SENTINEL_NAME. */
  REDIS_SENTINELS?: readonly HostPort[] | undefined;
  REDIS_SENTINEL_NAME?: string | undefined;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
}

export interface HostPort {
  host: string;
  port: number;
}

/** `host:port,host:port` (IPv6 in brackets) into a list; undefined for an entry that is not one. */
export function parseHostPorts(text: string): HostPort[] | undefined {
  const out: HostPort[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})\s*$/.exec(part);
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535) return undefined;
    out.push({ host: m[1]!.replace(/^\[|\]$/g, ''), port });
  }
  return out;
}

/**
 * Redis Cluster keeps the keys of one Lua script or transaction in one slot, and BullMQ's
 * scripts touch many keys of a queue at once: every key must hash to the same slot. Redis
 * hashes only the part between the first `{` and the next `}` when it is not empty (the hash
 * tag), so the prefix of every key, QUEUE_PREFIX, must carry one: `{alert-annotator}`.
 * Undefined when it does.
 */
export function hashTagProblem(prefix: string): string | undefined {
  const open = prefix.indexOf('{');
  const close = open < 0 ? -1 : prefix.indexOf('}', open + 1);
  if (open >= 0 && close > open + 1) return undefined;
  return `with REDIS_CLUSTER_NODES every key must sit in one hash slot, so QUEUE_PREFIX needs a hash tag: a non-empty part in braces, e.g. {${prefix.replace(/[{}]/g, '') || 'alert-annotator'}}`;
}

/** user, password, database and TLS from REDIS_URL: they apply to Cluster nodes and to the Sentinel's master too. */
function fromUrl(url: string): RedisOptions {
  const u = new URL(url);
  const db = Number(u.pathname.replace(/^\//, '') || '0');
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * A connection with the given options (BullMQ workers need `maxRetriesPerRequest: null`).
 * In Cluster mode the result is an ioredis Cluster, typed as Redis: it takes the same
 * commands, pipelines and scripts the service sends (all keys of one call share the prefix's
 * hash tag, so one slot), and BullMQ accepts either.
 */
export function createRedis(settings: RedisSettings, options: RedisOptions = {}): Redis {
  const cluster = settings.REDIS_CLUSTER_NODES;
  if (cluster?.length) {
    const problem = hashTagProblem(settings.QUEUE_PREFIX);
    if (problem) throw new Error(problem);
    const { enableOfflineQueue, ...perNode } = options;
    return new Cluster(
      cluster.map((n) => ({ ...n })),
      {
        redisOptions: { ...fromUrl(settings.REDIS_URL), ...perNode },
        ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
        // A failover moves slots: ask again where they are rather than fail the command.
        retryDelayOnMoved: 100,
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 300,
        ...(options.retryStrategy ? { clusterRetryStrategy: options.retryStrategy } : {}),
      },
    ) as unknown as Redis;
  }
  const sentinels = settings.REDIS_SENTINELS;
  if (sentinels?.length) {
    return new Redis({
      ...fromUrl(settings.REDIS_URL),
      sentinels: sentinels.map((n) => ({ ...n })),
      name: settings.REDIS_SENTINEL_NAME ?? 'mymaster',
      ...(settings.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: settings.REDIS_SENTINEL_PASSWORD } : {}),
      // After a failover the old master may answer as a replica: ask the sentinels again and resend.
      reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
      ...options,
    });
  }
  return new Redis(settings.REDIS_URL, options);
}

/** Where the service's Redis is, for log lines and errors: never the password. */
export function describeRedis(settings: RedisSettings): string {
  if (settings.REDIS_CLUSTER_NODES?.length) return `cluster ${settings.REDIS_CLUSTER_NODES.map((n) => `${n.host}:${n.port}`).join(',')}`;
  if (settings.REDIS_SENTINELS?.length)
    return `sentinel master ${settings.REDIS_SENTINEL_NAME ?? 'mymaster'} via ${settings.REDIS_SENTINELS.map((n) => `${n.host}:${n.port}`).join(',')}`;
  const u = new URL(settings.REDIS_URL);
  return `${u.protocol}//${u.host}`;
}
