/** Promises still running, so that a consumer's stop can let them settle first. */
export class Pending {
  private readonly running = new Set<Promise<unknown>>();

  /** Returns `p` as it is; its outcome stays the caller's. */
  track<T>(p: Promise<T>): Promise<T> {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.running.add(settled);
    void settled.then(() => this.running.delete(settled));
    return p;
  }

  /** Resolves once everything tracked so far has settled, either way. */
  settled(): Promise<unknown> {
    return Promise.all(this.running);
  }
}
