import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../log/files.ts';
import { acquireLock } from '../log/lock.ts';
import type { ScoredMember, StateOp, StateStore } from './types.ts';

/**
 * The in-process state store (the embedded default). All state lives in memory; every
 * `checkpointIntervalMs` the whole of it, offsets included, is written to
 * `<dir>/checkpoint-<seq>.json` (temp file, fsync, rename, fsync of the directory), and on open the
 * latest checkpoint is loaded. A crash loses what was committed after the last checkpoint together
 * with the offsets that said so, so the consumer replays exactly those batches and reaches the same
 * state. One process owns a directory (a lock file); readers may open it read-only.
 */

interface PartitionState {
  offset: number | null;
  hashes: Map<string, Map<string, string>>;
  zsets: Map<string, Map<string, number>>;
}

interface CheckpointFile {
  version: 1;
  partitions: Record<
    string,
    {
      offset: number | null;
      hashes: Record<string, Record<string, string>>;
      zsets: Record<string, Record<string, number>>;
      // Checkpoints of 2026-12-02 may also hold `sets` (the speed layer's seen-sets of then): not read.
    }
  >;
}

export interface MemoryStoreOptions {
  /** Where checkpoints live; null keeps state in memory only (tests). */
  dir: string | null;
  /** 0 disables the timer; checkpoints then happen on `checkpoint()` and `close()` only. */
  checkpointIntervalMs?: number;
  /** Load the latest checkpoint and never write (for readers in another process). */
  readOnly?: boolean;
}

export const DEFAULT_CHECKPOINT_INTERVAL_MS = 5_000;
const KEEP_CHECKPOINTS = 2;
const NAME = /^checkpoint-(\d{12})\.json$/;

export class MemoryStateStore implements StateStore {
  readonly kind = 'memory' as const;
  private readonly state = new Map<number, PartitionState>();
  private seq = 0;
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private release: (() => Promise<void>) | null = null;

  private constructor(private readonly opts: MemoryStoreOptions) {}

  static async open(opts: MemoryStoreOptions): Promise<MemoryStateStore> {
    const store = new MemoryStateStore(opts);
    if (opts.dir) {
      await mkdir(opts.dir, { recursive: true });
      if (!opts.readOnly) {
        store.release = await acquireLock(path.join(opts.dir, 'lock'), `the speed state in ${opts.dir}`, {
          onCompromised: (err) => {
            throw err;
          },
        });
      }
      await store.load();
      const every = opts.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
      if (!opts.readOnly && every > 0) {
        store.timer = setInterval(() => void store.checkpoint().catch(() => undefined), every);
        store.timer.unref();
      }
    }
    return store;
  }

  async offsets(partitions: number[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (const p of partitions) {
      const offset = this.state.get(p)?.offset;
      if (offset !== undefined && offset !== null) out.set(p, offset);
    }
    return out;
  }

  async commit(partition: number, expectedOffset: number | null, nextOffset: number, ops: StateOp[]): Promise<boolean> {
    if (this.opts.readOnly) throw new Error('the state store was opened read-only');
    const p = this.partition(partition);
    if (p.offset !== expectedOffset) return false;
    for (const op of ops) apply(p, op);
    p.offset = nextOffset;
    this.dirty = true;
    return true;
  }

  async hmget(partition: number, key: string, fields: string[]): Promise<(string | null)[]> {
    const h = this.state.get(partition)?.hashes.get(key);
    return fields.map((f) => h?.get(f) ?? null);
  }

  async hgetall(partition: number, key: string): Promise<Record<string, string>> {
    return Object.fromEntries(this.state.get(partition)?.hashes.get(key) ?? []);
  }

  async zrangeByScore(partition: number, key: string, min: number, max: number): Promise<ScoredMember[]> {
    const z = this.state.get(partition)?.zsets.get(key);
    if (!z) return [];
    const out: ScoredMember[] = [];
    for (const [member, score] of z) if (score >= min && score <= max) out.push({ member, score });
    // Redis orders equal scores by member, bytewise.
    return out.sort((a, b) => a.score - b.score || (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
  }

  async partitions(): Promise<number[]> {
    return [...this.state.keys()].sort((a, b) => a - b);
  }

  async size(): Promise<number> {
    let n = 0;
    for (const p of this.state.values()) {
      for (const h of p.hashes.values()) n += 1 + h.size;
      for (const z of p.zsets.values()) n += 1 + z.size;
    }
    return n;
  }

  /** Writes a checkpoint now if anything changed since the last one. */
  async checkpoint(): Promise<void> {
    const run = this.writing.then(() => this.writeCheckpoint());
    this.writing = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.opts.dir && !this.opts.readOnly) await this.checkpoint();
    await this.release?.();
    this.release = null;
  }

  private partition(n: number): PartitionState {
    let p = this.state.get(n);
    if (!p) {
      p = { offset: null, hashes: new Map(), zsets: new Map() };
      this.state.set(n, p);
    }
    return p;
  }

  private async writeCheckpoint(): Promise<void> {
    const dir = this.opts.dir;
    if (!dir || this.opts.readOnly || !this.dirty) return;
    // Serialised synchronously, so the file holds one consistent cut of state and offsets.
    const text = JSON.stringify(this.snapshot());
    this.dirty = false;
    this.seq += 1;
    const name = `checkpoint-${String(this.seq).padStart(12, '0')}.json`;
    try {
      await writeFileAtomic(path.join(dir, name), text);
    } catch (err) {
      this.dirty = true;
      throw err;
    }
    const old = (await checkpointNames(dir)).slice(0, -KEEP_CHECKPOINTS);
    await Promise.all(old.map((n) => rm(path.join(dir, n), { force: true })));
  }

  private snapshot(): CheckpointFile {
    const partitions: CheckpointFile['partitions'] = {};
    for (const [n, p] of this.state) {
      partitions[n] = {
        offset: p.offset,
        hashes: Object.fromEntries([...p.hashes].map(([k, h]) => [k, Object.fromEntries(h)])),
        zsets: Object.fromEntries([...p.zsets].map(([k, z]) => [k, Object.fromEntries(z)])),
      };
    }
    return { version: 1, partitions };
  }

  private async load(): Promise<void> {
    const dir = this.opts.dir!;
    const names = await checkpointNames(dir);
    const latest = names.at(-1);
    if (!latest) return;
    this.seq = Number(NAME.exec(latest)![1]);
    // Renamed into place only once complete and synced: the latest is whole, or absent.
    const file = JSON.parse(await readFile(path.join(dir, latest), 'utf8')) as CheckpointFile;
    for (const [n, p] of Object.entries(file.partitions)) {
      this.state.set(Number(n), {
        offset: p.offset,
        hashes: new Map(Object.entries(p.hashes).map(([k, h]) => [k, new Map(Object.entries(h))])),
        zsets: new Map(Object.entries(p.zsets).map(([k, z]) => [k, new Map(Object.entries(z))])),
      });
    }
  }
}

async function checkpointNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => NAME.test(n)).sort();
}

function apply(p: PartitionState, op: StateOp): void {
  switch (op.op) {
    case 'hincrby': {
      const h = hash(p, op.key);
      h.set(op.field, (BigInt(h.get(op.field) ?? '0') + BigInt(op.by)).toString());
      return;
    }
    case 'hset':
      hash(p, op.key).set(op.field, op.value);
      return;
    case 'hdel': {
      const h = p.hashes.get(op.key);
      h?.delete(op.field);
      if (h?.size === 0) p.hashes.delete(op.key);
      return;
    }
    case 'hmin':
    case 'hmax': {
      const h = hash(p, op.key);
      const cur = h.get(op.field);
      if (cur === undefined || (op.op === 'hmin' ? op.value < Number(cur) : op.value > Number(cur))) h.set(op.field, String(op.value));
      return;
    }
    case 'del':
      p.hashes.delete(op.key);
      p.zsets.delete(op.key);
      return;
    case 'zadd':
      zset(p, op.key).set(op.member, op.score);
      return;
    case 'zrem': {
      const z = p.zsets.get(op.key);
      z?.delete(op.member);
      if (z?.size === 0) p.zsets.delete(op.key);
      return;
    }
  }
}

function hash(p: PartitionState, key: string): Map<string, string> {
  let h = p.hashes.get(key);
  if (!h) p.hashes.set(key, (h = new Map()));
  return h;
}

function zset(p: PartitionState, key: string): Map<string, number> {
  let z = p.zsets.get(key);
  if (!z) p.zsets.set(key, (z = new Map()));
  return z;
}
