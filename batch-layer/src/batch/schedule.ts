import cron from 'node-cron';

export const DEFAULT_CRON = '0 2 * * *';
export const DEFAULT_TIMEZONE = 'UTC';

export interface BatchSchedule {
  /** Stops ticking, then waits for a run in progress to finish. */
  stop(): Promise<void>;
}

/**
 * Calls `tick` on a cron expression, never two at once (a tick due while one runs is skipped and
 * logged by the caller's `onSkip`). A failing tick is reported and the schedule keeps going.
 */
export function scheduleBatch(options: {
  cron?: string;
  timezone?: string;
  tick: () => Promise<void>;
  onError: (err: unknown) => void;
  onSkip?: () => void;
}): BatchSchedule {
  const expression = options.cron ?? DEFAULT_CRON;
  if (!cron.validate(expression)) throw new Error(`invalid cron expression "${expression}"`);
  const timezone = options.timezone ?? DEFAULT_TIMEZONE;
  if (!isTimeZone(timezone)) throw new Error(`unknown time zone "${timezone}"`);
  let running: Promise<void> | null = null;
  const task = cron.schedule(
    expression,
    () => {
      if (running) {
        options.onSkip?.();
        return;
      }
      running = options
        .tick()
        .catch(options.onError)
        .finally(() => (running = null));
    },
    { timezone, name: 'batch-run' },
  );
  return {
    async stop() {
      await task.stop();
      await task.destroy();
      await running;
    },
  };
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
