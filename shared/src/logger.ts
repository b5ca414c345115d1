import { destination, pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stderr, so that stdout stays free for a command's own output (query
 * rows, the final JSON line of a benchmark).
 */
export function createLogger(name: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level }, destination({ fd: 2, sync: false }));
}
