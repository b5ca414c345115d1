import type { MessagePort, Worker } from 'node:worker_threads';

/**
 * Calls between a thread and its worker, over one port: each side names the functions it answers;
 * a call resolves with the other side's answer, or rejects with the error it threw (cloned, as the
 * structured clone algorithm copies errors). A notice expects no answer.
 */

type Port = Pick<MessagePort | Worker, 'postMessage' | 'on' | 'off'>;
export type Handlers = Record<string, (arg: never) => unknown>;

type Message =
  | { kind: 'call'; id: number; name: string; arg: unknown }
  | { kind: 'notice'; name: string; arg: unknown }
  | { kind: 'answer'; id: number; ok: true; value: unknown }
  | { kind: 'answer'; id: number; ok: false; error: unknown };

/**
 * `listener` for `worker`'s exit, called once the handlers of the messages it left behind have run.
 * A worker that posts and ends while this thread is busy has its last messages delivered and 'exit'
 * emitted in one turn, before a channel's handlers (started from a promise job) have seen them.
 */
export function onWorkerExit(worker: Worker, listener: (code: number) => void): void {
  worker.once('exit', (code: number) => setImmediate(() => listener(code)));
}

export class ThreadChannel {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private readonly listener = (m: Message) => this.receive(m);
  private closedWith: Error | null = null;

  constructor(
    private readonly port: Port,
    private readonly handlers: Handlers,
  ) {
    port.on('message', this.listener);
  }

  call<T>(name: string, arg?: unknown, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.port.postMessage({ kind: 'call', id, name, arg } satisfies Message, transfer);
    });
  }

  notify(name: string, arg?: unknown): void {
    this.port.postMessage({ kind: 'notice', name, arg } satisfies Message);
  }

  /** `error` itself where the structured clone can copy it, else an Error with its text. */
  static cloneable(error: unknown): unknown {
    try {
      structuredClone(error);
      return error;
    } catch {
      return new Error(String(error));
    }
  }

  /** Stops listening; calls still unanswered reject with `reason`. */
  close(reason: Error): void {
    this.closedWith = reason;
    this.port.off('message', this.listener);
    for (const p of this.pending.values()) p.reject(reason);
    this.pending.clear();
  }

  private receive(m: Message): void {
    if (m.kind === 'answer') {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.ok) p?.resolve(m.value);
      else p?.reject(m.error);
      return;
    }
    const handler = this.handlers[m.name] as ((arg: unknown) => unknown) | undefined;
    const result = handler ? Promise.resolve().then(() => handler(m.arg)) : Promise.reject(new Error(`no handler for ${m.name}`));
    if (m.kind === 'notice') return void result.catch(() => undefined);
    result.then(
      (value) => this.port.postMessage({ kind: 'answer', id: m.id, ok: true, value } satisfies Message),
      (error: unknown) => this.port.postMessage({ kind: 'answer', id: m.id, ok: false, error: ThreadChannel.cloneable(error) } satisfies Message),
    );
  }
}
