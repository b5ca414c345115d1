import path from 'node:path';
import { z } from 'zod';

/**
 * Configuration by environment variable; every setting has the embedded default, so an empty
 * environment runs the whole platform with nothing installed.
 */
const envSchema = z.object({
  DATA_DIR: z.string().min(1).default('./data'),
  /** Comma-separated `host:port` list. Unset: the embedded file-backed log. */
  KAFKA_BROKERS: z.string().min(1).optional(),
  KAFKA_CLIENT_ID: z.string().min(1).default('lambda-platform'),
  /** Prefixed to every topic and consumer-group name, so several platforms can share one cluster. */
  KAFKA_TOPIC_PREFIX: z.string().default(''),
  /** `redis://host:port`. Unset: the in-process memory state backend. */
  REDIS_URL: z.string().min(1).optional(),
  /** Events whose time is further than this ahead of the receiver's clock go to the DLQ. */
  MAX_FUTURE_SKEW_MS: z.coerce.number().int().nonnegative().default(5 * 60_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Bearer token for admin routes; without it they are disabled, not open. */
  ADMIN_TOKEN: z.string().min(1).optional(),
});

export interface Config {
  dataDir: string;
  kafkaBrokers: string[] | null;
  kafkaClientId: string;
  topicPrefix: string;
  redisUrl: string | null;
  maxFutureSkewMs: number;
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  host: string;
  port: number;
  adminToken: string | null;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "unset", as a shell user expects from `KAFKA_BROKERS= lambda up`.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`invalid environment variable ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const e = parsed.data;
  return {
    dataDir: path.resolve(e.DATA_DIR),
    kafkaBrokers: e.KAFKA_BROKERS ? e.KAFKA_BROKERS.split(',').map((b) => b.trim()).filter(Boolean) : null,
    kafkaClientId: e.KAFKA_CLIENT_ID,
    topicPrefix: e.KAFKA_TOPIC_PREFIX,
    redisUrl: e.REDIS_URL ?? null,
    maxFutureSkewMs: e.MAX_FUTURE_SKEW_MS,
    logLevel: e.LOG_LEVEL,
    host: e.HOST,
    port: e.PORT,
    adminToken: e.ADMIN_TOKEN ?? null,
  };
}
