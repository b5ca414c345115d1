/**
 * Group commit: items pushed while a flush is running wait and go out together in the next one,
 * so that concurrent callers share one write (and one fsync, or one request).
 */
export function coalescer<T>(flush: (items: T[]) => Promise<void>): (items: T[]) => Promise<void> {
  let queue: Array<{ items: T[]; resolve: () => void; reject: (e: unknown) => void }> = [];
  let running = false;

  async function drain(): Promise<void> {
    running = true;
    while (queue.length > 0) {
      const waiting = queue;
      queue = [];
      try {
        await flush(waiting.length === 1 ? waiting[0]!.items : waiting.flatMap((w) => w.items));
        for (const w of waiting) w.resolve();
      } catch (e) {
        for (const w of waiting) w.reject(e);
      }
    }
    running = false;
  }

  return (items) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ items, resolve, reject });
      if (!running) void drain();
    });
}
