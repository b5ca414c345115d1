/**
 * The speed layer's state store: one narrow interface with two back ends, Redis (ioredis) and the
 * in-process memory store with checkpoints (the no-install default).
 *
 * The unit of atomicity is one log partition. Every key lives in the keyspace of one partition and
 * `commit` applies a batch of operations to it together with that partition's consumed offset, all
 * or nothing, fenced on the offset stored before: a batch replayed after a crash finds the offset
 * already moved and changes nothing. That is what makes the effect on the views exactly once.
 *
 * Values follow Redis: hash fields hold strings; counters are exact 64-bit integers.
 */

export type StateOp =
  /** Adds an integer (exact; bigint for sums of money) to a hash field, creating it at 0. */
  | { op: 'hincrby'; key: string; field: string; by: bigint | number }
  | { op: 'hset'; key: string; field: string; value: string }
  | { op: 'hdel'; key: string; field: string }
  /** Keeps the smaller (hmin) or larger (hmax) of the field's number and `value`. */
  | { op: 'hmin' | 'hmax'; key: string; field: string; value: number }
  /** Removes the key; Redis frees a large one off its main thread (UNLINK). */
  | { op: 'del'; key: string }
  | { op: 'zadd'; key: string; member: string; score: number }
  | { op: 'zrem'; key: string; member: string };

export interface ScoredMember {
  member: string;
  score: number;
}

export interface StateStore {
  readonly kind: 'memory' | 'redis';
  /** The next log offset to process, per partition, for those that have one. */
  offsets(partitions: number[]): Promise<Map<number, number>>;
  /**
   * Applies `ops` to the partition's keyspace and stores `nextOffset`, atomically, if and only if
   * the stored offset is `expectedOffset` (null: none stored yet). Returns whether it applied.
   */
  commit(partition: number, expectedOffset: number | null, nextOffset: number, ops: StateOp[]): Promise<boolean>;
  hmget(partition: number, key: string, fields: string[]): Promise<(string | null)[]>;
  hgetall(partition: number, key: string): Promise<Record<string, string>>;
  /** Members with `min <= score <= max`, ascending by score. */
  zrangeByScore(partition: number, key: string, min: number, max: number): Promise<ScoredMember[]>;
  /** Partitions that hold any state (readers merge their partials). */
  partitions(): Promise<number[]>;
  /** Number of keys and hash fields / sorted-set members held, for the state-size metric. */
  size(): Promise<number>;
  close(): Promise<void>;
}

export class StateStoreError extends Error {}
