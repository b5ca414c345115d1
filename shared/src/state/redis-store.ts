import { Redis } from 'ioredis';
import { Packr } from 'msgpackr';
import type { ScoredMember, StateOp, StateStore } from './types.ts';

/**
 * The Redis state store. Every key of partition N is `<prefix>{p<N>}:<name>`: the hash tag puts a
 * partition's keys in one Redis Cluster slot, so the commit script, which declares every key it
 * touches, is legal in a cluster. The stored offset is `<prefix>{p<N>}:offset`.
 *
 * A commit is one EVALSHA: check the offset, then apply the operations and set the offset. Redis
 * runs a script atomically, so a reader or a crash sees all of a batch or none of it.
 */

/*
 * ARGV: expected offset ('' for none), next offset, then the operations as one MessagePack array of
 * groups, three items each: op, key index, and the group's values. A group holds a run of
 * operations of one kind on one key, so each run of HSET, ZADD, HDEL or ZREM is one command.
 * A batch holds tens of thousands of small values (session lists): as arguments, each cost the
 * client an encoding step; packed as length-prefixed text, the script's own parsing loop cost
 * Redis about 4 us of CPU per event. cmsgpack (built into Redis's Lua) unpacks them in C.
 */
const COMMIT_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if cur then return 0 end
elseif cur ~= ARGV[1] then
  return 0
end
local groups = cmsgpack.unpack(ARGV[3])
for i = 1, #groups, 3 do
  local op = groups[i]
  local k = KEYS[groups[i + 1]]
  local v = groups[i + 2]
  local n = #v
  if op == 'hset' then
    redis.call('HSET', k, unpack(v, 1, n))
  elseif op == 'zadd' then
    redis.call('ZADD', k, unpack(v, 1, n))
  elseif op == 'hdel' then
    redis.call('HDEL', k, unpack(v, 1, n))
  elseif op == 'zrem' then
    redis.call('ZREM', k, unpack(v, 1, n))
  elseif op == 'hincrby' then
    for j = 1, n, 2 do redis.call('HINCRBY', k, v[j], v[j + 1]) end
  elseif op == 'hmin' or op == 'hmax' then
    for j = 1, n, 2 do
      local c = redis.call('HGET', k, v[j])
      local x = tonumber(v[j + 1])
      if (not c) or (op == 'hmin' and x < tonumber(c)) or (op == 'hmax' and x > tonumber(c)) then
        redis.call('HSET', k, v[j], v[j + 1])
      end
    end
  elseif op == 'del' then
    redis.call('UNLINK', k)
  else
    return redis.error_reply('unknown op ' .. op)
  end
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`;

/** Values per group: Lua's unpack() is bounded by its C stack (8000 slots in Redis's Lua). */
const MAX_GROUP_VALUES = 4000;

export interface RedisStoreOptions {
  url: string;
  /** Prepended to every key, so several platforms (or tests) can share one Redis. */
  keyPrefix?: string;
}

export const DEFAULT_KEY_PREFIX = 'lambda:';
const PARTITIONS_TTL_MS = 5_000;
// Plain MessagePack, as cmsgpack reads it: no msgpackr record extension.
const packr = new Packr({ useRecords: false });

/** The store's scripts, as ioredis adds them to the client (defineCommand). */
interface Scripts {
  lambdaCommit(n: number, keys: string[], args: (string | Buffer)[]): Promise<number>;
}

export class RedisStateStore implements StateStore {
  readonly kind = 'redis' as const;
  private readonly prefix: string;
  private known: { partitions: number[]; at: number } | null = null;
  private readonly scripts: Scripts;

  private constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.prefix = prefix;
    redis.defineCommand('lambdaCommit', { lua: COMMIT_SCRIPT });
    this.scripts = redis as unknown as Scripts;
  }

  static async open(opts: RedisStoreOptions): Promise<RedisStateStore> {
    const redis = new Redis(opts.url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    await redis.connect();
    return new RedisStateStore(redis, opts.keyPrefix ?? DEFAULT_KEY_PREFIX);
  }

  /** The full Redis key of a partition's key name. */
  keyOf(partition: number, key: string): string {
    return `${this.prefix}{p${partition}}:${key}`;
  }

  async offsets(partitions: number[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    if (partitions.length === 0) return out;
    const values = await this.redis.mget(partitions.map((p) => this.keyOf(p, 'offset')));
    partitions.forEach((p, i) => {
      if (values[i] !== null && values[i] !== undefined) out.set(p, Number(values[i]));
    });
    return out;
  }

  /**
   * Not itself async: a suspended async function keeps its arguments, and a batch's operations
   * would live until Redis has run them, while the caller plans the next batch.
   */
  commit(partition: number, expectedOffset: number | null, nextOffset: number, ops: StateOp[]): Promise<boolean> {
    const { keys, args } = this.commitArgs(partition, expectedOffset, nextOffset, ops);
    return this.runCommit(partition, keys, args);
  }

  private commitArgs(partition: number, expectedOffset: number | null, nextOffset: number, ops: StateOp[]) {
    const keys = [this.keyOf(partition, 'offset')];
    const index = new Map<string, number>();
    const keyIndex = (k: string) => {
      let i = index.get(k);
      if (i === undefined) {
        i = keys.push(this.keyOf(partition, k));
        index.set(k, i);
      }
      return i;
    };
    const groups: (string | number | string[])[] = [];
    // The open group: its op, key, and values so far.
    let group: { op: StateOp['op']; key: string; values: string[] } | null = null;
    const close = () => {
      if (group) groups.push(group.op, keyIndex(group.key), group.values);
      group = null;
    };
    const values = (op: StateOp['op'], key: string, ...v: string[]) => {
      if (!group || group.op !== op || group.key !== key || group.values.length + v.length > MAX_GROUP_VALUES) {
        close();
        group = { op, key, values: [] };
      }
      group.values.push(...v);
    };
    for (const op of ops) {
      switch (op.op) {
        case 'hincrby':
          values(op.op, op.key, op.field, String(op.by));
          break;
        case 'hset':
          values(op.op, op.key, op.field, op.value);
          break;
        case 'hmin':
        case 'hmax':
          values(op.op, op.key, op.field, String(op.value));
          break;
        case 'hdel':
          values(op.op, op.key, op.field);
          break;
        case 'zadd':
          values(op.op, op.key, String(op.score), op.member);
          break;
        case 'zrem':
          values(op.op, op.key, op.member);
          break;
        case 'del':
          close();
          values(op.op, op.key);
          close();
          break;
      }
    }
    close();
    // Arrays, not spread arguments: a batch may touch more keys than a call stack holds
    // (ioredis flattens them).
    const args = [expectedOffset === null ? '' : String(expectedOffset), String(nextOffset), packr.pack(groups)];
    return { keys, args };
  }

  private async runCommit(partition: number, keys: string[], args: (string | Buffer)[]): Promise<boolean> {
    const applied = await this.scripts.lambdaCommit(keys.length, keys, args);
    if (applied === 1 && this.known && !this.known.partitions.includes(partition)) this.known = null;
    return applied === 1;
  }

  async hmget(partition: number, key: string, fields: string[]): Promise<(string | null)[]> {
    if (fields.length === 0) return [];
    return this.redis.hmget(this.keyOf(partition, key), ...fields);
  }

  async hgetall(partition: number, key: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keyOf(partition, key));
  }

  async zrangeByScore(partition: number, key: string, min: number, max: number): Promise<ScoredMember[]> {
    const flat = await this.redis.zrangebyscore(this.keyOf(partition, key), bound(min), bound(max), 'WITHSCORES');
    const out: ScoredMember[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ member: flat[i]!, score: Number(flat[i + 1]) });
    return out;
  }

  async partitions(): Promise<number[]> {
    // A scan walks the whole keyspace, and readers ask on every read; partitions appear only when
    // a consumer first commits one, so a list a few seconds old is as good.
    const now = performance.now();
    if (this.known && now - this.known.at < PARTITIONS_TTL_MS) return this.known.partitions;
    const keys = await this.scan(`${escapeGlob(this.prefix)}{p*}:offset`);
    const re = /\{p(\d+)\}:offset$/;
    const partitions = keys.map((k) => Number(re.exec(k)![1])).sort((a, b) => a - b);
    // An empty answer is not kept: the first commit is then seen at once.
    this.known = partitions.length > 0 ? { partitions, at: now } : null;
    return partitions;
  }

  async size(): Promise<number> {
    const keys = await this.scan(`${escapeGlob(this.prefix)}{p*}:*`);
    if (keys.length === 0) return 0;
    const pipe = this.redis.pipeline();
    for (const k of keys) pipe.type(k);
    const types = (await pipe.exec())!.map(([, t]) => t as string);
    const sizes = this.redis.pipeline();
    keys.forEach((k, i) => (types[i] === 'hash' ? sizes.hlen(k) : types[i] === 'zset' ? sizes.zcard(k) : sizes.exists(k)));
    return keys.length + (await sizes.exec())!.reduce((n, [, v]) => n + Number(v), 0);
  }

  /** Deletes every key under this store's prefix (tests, and `--reset`). */
  async clear(): Promise<void> {
    const keys = await this.scan(`${escapeGlob(this.prefix)}*`);
    for (let i = 0; i < keys.length; i += 500) await this.redis.del(...keys.slice(i, i + 500));
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }

  private async scan(pattern: string): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
    return out;
  }
}

function bound(x: number): string {
  return x === Infinity ? '+inf' : x === -Infinity ? '-inf' : String(x);
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
