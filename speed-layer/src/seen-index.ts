/**
 * One partition's seen-set (the event ids of the dedupe horizon) as a processor holds it: exact,
 * per generation, loaded from the store and kept up to date by the processor's own commits.
 *
 * The store holds each generation as a hash of blobs, one per batch that added ids to it
 * (`NewIds`). Redis then stores a batch's ids as one value instead of tens of thousands of set
 * members: SADD cost it 0.8 us of CPU per id, half its work for the speed layer. The price is that
 * the store can no longer answer "is this id in it" one id at a time, so every lookup is answered
 * here, from the blobs themselves: each id is a 32-bit hash in an open-addressing table that points
 * into the blob it came in, and a hash match is confirmed against the blob's text, so a lookup is
 * exact and allocates nothing.
 *
 * It matches the store only at the offset it was loaded or last advanced at: the processor drops it
 * and loads it again when the stored offset is another (a restart, or another instance's commit).
 */
export class SeenIndex {
  private readonly generations = new Map<number, IdTable>();

  /** `offset`: the stored offset its contents match (null: no batch committed yet). */
  private constructor(public offset: number | null) {}

  /** The index of the generations' blobs as the store holds them at `offset`. */
  static of(offset: number | null, blobs: Map<number, Iterable<string>>): SeenIndex {
    const index = new SeenIndex(offset);
    for (const [g, list] of blobs) for (const blob of list) index.table(g).addBlob(blob);
    return index;
  }

  /** Whether the seen-set holds `id`, whose `hashId` is `h`. */
  has(id: string, h: number): boolean {
    for (const table of this.generations.values()) if (table.has(id, h)) return true;
    return false;
  }

  /** Takes in a commit that left the stored offset at `offset`: the ids it added by generation, the generations the store keeps. */
  advance(offset: number, added: Map<number, NewIds>, keep: (generation: number) => boolean): void {
    this.offset = offset;
    for (const g of this.generations.keys()) if (!keep(g)) this.generations.delete(g);
    for (const [g, ids] of added) if (keep(g)) this.table(g).addNew(ids);
  }

  private table(generation: number): IdTable {
    let table = this.generations.get(generation);
    if (!table) this.generations.set(generation, (table = new IdTable()));
    return table;
  }
}

/**
 * The ids a batch adds to one generation, with their hashes (`hashId`, which its lookups computed
 * already), and their blob: the ids' lengths in UTF-16 code units, comma-separated, a colon, then
 * the ids one after another (`1,2:abc` for `a` and `bc`), so any id (colons, digits, control
 * characters) reads back exactly. Two joins build it: building it id by id cost 4% of the
 * processing thread's allocations.
 */
export class NewIds {
  private readonly ids: string[];
  private readonly hashes: Uint32Array;
  /**
   * Where each id ends among the ids one after another: counted as each comes in, where reading
   * every id's length again at the commit touched tens of thousands of strings long out of the cache.
   */
  private readonly ends: Uint32Array;
  private count = 0;
  private text: string | null = null;

  /**
   * `capacity`: how many ids it will take at most (the batch's records). Made to size: grown a
   * push at a time, its arrays (and BatchIds') were copied over and over, 6% of the processing
   * thread's allocations.
   */
  constructor(capacity: number) {
    this.ids = new Array<string>(capacity);
    this.hashes = new Uint32Array(capacity);
    this.ends = new Uint32Array(capacity);
  }

  get length(): number {
    return this.count;
  }

  push(id: string, h: number): void {
    if (this.count === this.hashes.length) throw new Error(`a batch adds at most ${this.hashes.length} ids`);
    this.ids[this.count] = id;
    this.hashes[this.count] = h;
    this.ends[this.count] = (this.count === 0 ? 0 : this.ends[this.count - 1]!) + id.length;
    this.count++;
    this.text = null;
  }

  /** Where the `i`th id ends among the ids one after another. */
  end(i: number): number {
    return this.ends[i]!;
  }

  /** The ids' hashes, in order. */
  get idHashes(): Uint32Array {
    return this.hashes.subarray(0, this.count);
  }

  get blob(): string {
    if (this.text === null) {
      const ids = this.count === this.ids.length ? this.ids : this.ids.slice(0, this.count);
      this.text = `${ids.map((id) => id.length).join(',')}:${ids.join('')}`;
    }
    return this.text;
  }
}

/**
 * The ids one batch has taken so far, to find copies within the batch: an open-addressing table on
 * the hash its seen-set lookups computed anyway. A Set hashed every id again (the batch's id strings
 * are all new to V8), and its lookups were the busiest builtin of the processing thread.
 */
export class BatchIds {
  /** Per slot: the id's number in `ids` plus one (0: empty), and its hash. */
  private readonly slots: Int32Array;
  private readonly hashes: Uint32Array;
  private readonly ids: string[];
  private count = 0;

  /** `capacity`: how many ids it will take at most (the batch's records). */
  constructor(capacity: number) {
    let size = 16;
    while (size < 2 * capacity) size *= 2;
    this.slots = new Int32Array(size);
    this.hashes = new Uint32Array(size);
    // Made to size, as NewIds is.
    this.ids = new Array<string>(capacity);
  }

  has(id: string, h: number): boolean {
    const mask = this.slots.length - 1;
    for (let i = h & mask; this.slots[i] !== 0; i = (i + 1) & mask) {
      if (this.hashes[i] === h && this.ids[this.slots[i]! - 1] === id) return true;
    }
    return false;
  }

  add(id: string, h: number): void {
    if (2 * (this.count + 1) > this.slots.length) throw new Error(`a batch takes at most ${this.slots.length / 2} ids`);
    const mask = this.slots.length - 1;
    let i = h & mask;
    while (this.slots[i] !== 0) i = (i + 1) & mask;
    this.ids[this.count] = id;
    this.slots[i] = ++this.count;
    this.hashes[i] = h;
  }
}

const COMMA = 44;
const COLON = 58;
const ZERO = 48;

/**
 * Open addressing with linear probing, kept at most half full. A slot is three numbers: the id's
 * hash (0: empty), its blob's number, and its number in the blob, whose `bounds` say where each of
 * its ids starts and ends. 32 bits each bound neither how many blobs a generation takes (one per
 * batch, forever, when the horizon is unbounded), nor how long a blob or an id is.
 */
class IdTable {
  private slots = new Uint32Array(3 * 1024);
  private size = 0;
  private readonly blobs: string[] = [];
  /** Per blob, where its ids start, and where the last one ends. */
  private readonly bounds: Uint32Array[] = [];

  has(id: string, h: number): boolean {
    const mask = this.slots.length / 3 - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = 3 * i;
      const v = this.slots[s]!;
      if (v === 0) return false;
      if (v === h) {
        const b = this.slots[s + 1]!;
        const n = this.slots[s + 2]!;
        const start = this.bounds[b]![n]!;
        if (this.bounds[b]![n + 1]! - start === id.length && this.blobs[b]!.startsWith(id, start)) return true;
      }
    }
  }

  /** A batch's ids, found where their blob holds them. */
  addNew(ids: NewIds): void {
    const { blob } = ids;
    const bounds = new Uint32Array(ids.length + 1);
    // The header holds digits and commas only: its colon is the first.
    bounds[0] = blob.indexOf(':') + 1;
    for (let i = 0; i < ids.length; i++) bounds[i + 1] = bounds[0] + ids.end(i);
    this.addAll(blob, bounds, ids.idHashes);
  }

  /** A blob as the store holds it. */
  addBlob(blob: string): void {
    const lengths: number[] = [];
    let at = 0;
    for (let length = 0, digits = 0, c = blob.charCodeAt(at++); ; c = blob.charCodeAt(at++)) {
      if (c >= ZERO && c <= ZERO + 9) {
        length = 10 * length + c - ZERO;
        digits++;
        continue;
      }
      if (digits === 0 || (c !== COMMA && c !== COLON)) throw new Error(`not a seen-id blob (at ${at - 1})`);
      lengths.push(length);
      if (c === COLON) break;
      length = digits = 0;
    }
    const bounds = new Uint32Array(lengths.length + 1);
    bounds[0] = at;
    lengths.forEach((length, i) => (bounds[i + 1] = bounds[i]! + length));
    if (bounds[lengths.length] !== blob.length) throw new Error(`not a seen-id blob (its lengths are not its ids')`);
    this.addAll(blob, bounds, lengths.map((length, i) => hash(blob, bounds[i]!, length)));
  }

  private addAll(blob: string, bounds: Uint32Array, hashes: ArrayLike<number>): void {
    const b = this.blobs.length;
    this.blobs.push(blob);
    this.bounds.push(bounds);
    this.size += hashes.length;
    let capacity = this.slots.length / 3;
    while (2 * this.size > capacity) capacity *= 2;
    if (capacity > this.slots.length / 3) this.rehash(capacity);
    for (let i = 0; i < hashes.length; i++) place(this.slots, hashes[i]!, b, i);
  }

  /** The table at `capacity` slots, once for a whole blob however far it outgrew the last. */
  private rehash(capacity: number): void {
    const old = this.slots;
    this.slots = new Uint32Array(3 * capacity);
    for (let s = 0; s < old.length; s += 3) if (old[s] !== 0) place(this.slots, old[s]!, old[s + 1]!, old[s + 2]!);
  }
}

function place(slots: Uint32Array, h: number, blob: number, n: number): void {
  const mask = slots.length / 3 - 1;
  let i = h & mask;
  while (slots[3 * i] !== 0) i = (i + 1) & mask;
  slots[3 * i] = h;
  slots[3 * i + 1] = blob;
  slots[3 * i + 2] = n;
}

/** The hash `has` takes: a batch computes it once per id, and keeps it for `NewIds`. */
export function hashId(id: string): number {
  return hash(id, 0, id.length);
}

/** FNV-1a over the UTF-16 code units of `s` from `start`; never 0, which marks an empty slot. */
function hash(s: string, start: number, length: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < start + length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0 || 1;
}
