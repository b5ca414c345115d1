import { randomBytes } from 'node:crypto';

const RUN_ID = /^\d{8}T\d{9}Z-[0-9a-f]{6}$/;

/** Sortable run ids: the start time (UTC, ms) then a random suffix, e.g. `20240501T020000123Z-3fa9c1`. */
export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
}

export function isRunId(s: string): boolean {
  return RUN_ID.test(s);
}
