/**
 * Items held back for later delivery (late events, retried duplicates), released in order of
 * their due stream time; ties go first-in first-out so that the stream stays deterministic.
 */
export class PendingQueue<T> {
  private readonly heap: Array<{ at: number; n: number; item: T }> = [];
  private pushed = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Due time of the next item, or Infinity when empty. */
  peekAt(): number {
    return this.heap[0]?.at ?? Infinity;
  }

  push(at: number, item: T): void {
    const h = this.heap;
    h.push({ at, n: this.pushed++, item });
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  pop(): { at: number; item: T } | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    h[0] = last;
    let i = 0;
    while (true) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
    return top;
  }
}

function before(a: { at: number; n: number }, b: { at: number; n: number }): boolean {
  return a.at < b.at || (a.at === b.at && a.n < b.n);
}
