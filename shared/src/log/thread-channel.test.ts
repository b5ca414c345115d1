import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { ThreadChannel } from './thread-channel.ts';

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
