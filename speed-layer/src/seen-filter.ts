/**
 * What a processor remembers of one partition's seen-set (the event ids of the dedupe horizon, which
 * the store holds): for each generation of it, a set of 32-bit hashes of its ids. A hash that is
 * absent proves an id new, so only the few ids whose hash is present (duplicates, and the new ids
 * that share a hash with a remembered one: about one in 4,000 with a million remembered) are looked
 * up in the store: per batch, a lookup of tens
 * of ids instead of every id against two generations.
 *
 * It is exact only while every id of a generation went through it: the generations it saw begin,
 * and only while nobody else writes the partition (the processor drops it when the stored offset is
 * not the one its last commit left).
 */
export class SeenFilter {
  private readonly generations = new Map<number, HashSet>();
  /** The stored offset after the commit it last took in; null before the first. */
  offset: number | null = null;

  /** `completeFrom`: the first generation whose every id this filter is given. */
  constructor(private readonly completeFrom: number) {}

  /** Whether the filter can rule ids out of these generations. */
  covers(generations: number[]): boolean {
    return generations.every((g) => g >= this.completeFrom);
  }

  /** False proves the id in none of the generations. */
  mayHold(id: string): boolean {
    const h = hash(id);
    for (const set of this.generations.values()) if (set.has(h)) return true;
    return false;
  }

  /** Takes in a commit that left the stored offset at `offset`: the ids it added by generation, the generations the store keeps. */
  advance(offset: number, fresh: Map<number, string[]>, keep: (generation: number) => boolean): void {
    this.offset = offset;
    for (const g of this.generations.keys()) if (!keep(g)) this.generations.delete(g);
    for (const [g, ids] of fresh) {
      if (!keep(g)) continue;
      let set = this.generations.get(g);
      if (!set) this.generations.set(g, (set = new HashSet()));
      for (const id of ids) set.add(hash(id));
    }
  }
}

/** FNV-1a over the UTF-16 code units; never 0, which marks an empty slot. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0 || 1;
}

/** Open addressing with linear probing, kept at most half full. */
class HashSet {
  private slots = new Uint32Array(1024);
  private size = 0;

  has(h: number): boolean {
    const mask = this.slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = this.slots[i]!;
      if (v === h) return true;
      if (v === 0) return false;
    }
  }

  add(h: number): void {
    if (2 * (this.size + 1) > this.slots.length) this.grow();
    if (insert(this.slots, h)) this.size++;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    for (const v of old) if (v !== 0) insert(this.slots, v);
  }
}

/** Whether `h` was not there yet. */
function insert(slots: Uint32Array, h: number): boolean {
  const mask = slots.length - 1;
  for (let i = h & mask; ; i = (i + 1) & mask) {
    const v = slots[i]!;
    if (v === h) return false;
    if (v === 0) {
      slots[i] = h;
      return true;
    }
  }
}
