/** Progress lines on stderr for long runs, at most every `everyMs`, and a stop flag for signals. */
export class Progress {
  private readonly started = performance.now();
  private last = this.started;

  constructor(
    private readonly name: string,
    private readonly everyMs = 2000,
  ) {}

  /** Seconds since the run started. */
  get seconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** Items per second since the run started. */
  rate(done: number): number {
    const s = this.seconds;
    return s > 0 ? Math.round(done / s) : 0;
  }

  tick(describe: () => string): void {
    const now = performance.now();
    if (now - this.last < this.everyMs) return;
    this.last = now;
    process.stderr.write(`${this.name}: ${describe()}\n`);
  }
}

/**
 * SIGINT/SIGTERM ask the run to stop after the batch in progress, so that what was written is
 * whole and reported. `dispose` restores the default handling.
 */
export function stopOnSignals(name: string): { readonly stopped: boolean; dispose(): void } {
  let stopped = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopped) process.stderr.write(`${name}: ${signal}: stopping after the current batch\n`);
    stopped = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    get stopped() {
      return stopped;
    },
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
