import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel, Worker } from 'node:worker_threads';
import { onWorkerExit, ThreadChannel } from './thread-channel.ts';

test('a channel call resolves with the answer, rejects with the error thrown (or its text, where it cannot be cloned), and close rejects what is unanswered', async () => {
  const { port1, port2 } = new MessageChannel();
  const notices: unknown[] = [];
  const never = new Promise(() => undefined);
  new ThreadChannel(port2, {
    double: (n: number) => 2 * n,
    fail: () => {
      throw new RangeError('out of range');
    },
    strange: () => {
      throw { toString: () => 'a thrown object', fn: () => undefined };
    },
    hang: () => never,
    note: (x: unknown) => void notices.push(x),
  });
  const caller = new ThreadChannel(port1, {});
  try {
    assert.equal(await caller.call<number>('double', 21), 42);
    await assert.rejects(caller.call('fail'), (e: Error) => e instanceof RangeError && e.message === 'out of range');
    await assert.rejects(caller.call('strange'), (e: Error) => e instanceof Error && e.message === 'a thrown object');
    await assert.rejects(caller.call('missing'), /no handler for missing/);
    caller.notify('note', 'hello');
    await caller.call('double', 0);
    assert.deepEqual(notices, ['hello']);
    const hanging = caller.call('hang');
    caller.close(new Error('closed'));
    await assert.rejects(hanging, /closed/);
    await assert.rejects(caller.call('double', 1), /closed/);
  } finally {
    port1.close();
  }
});

test('a worker that says it is done and ends while this thread is busy is seen done at its exit', async () => {
  // The worker posts its notice, signals, and ends; this thread is blocked meanwhile, so both the
  // notice and the exit are waiting when it next looks.
  const signal = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     parentPort.postMessage({ kind: 'notice', name: 'done', arg: 'finished' });
     Atomics.store(workerData, 0, 1);
     Atomics.notify(workerData, 0);
     parentPort.close();`,
    { eval: true, workerData: signal },
  );
  let said: string | null = null;
  new ThreadChannel(worker, { done: (word: string) => void (said = word) });
  const seen = new Promise<string | null>((resolve) => onWorkerExit(worker, () => resolve(said)));
  // Bounded: a worker that failed before its signal would otherwise block this thread for good.
  assert.notEqual(Atomics.wait(signal, 0, 0, 30_000), 'timed-out', 'the worker never signalled');
  // Blocked a while longer, for the worker's thread to end while this one cannot look.
  Atomics.wait(signal, 1, 0, 200);
  assert.equal(await seen, 'finished');
});
