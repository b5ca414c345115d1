// The consumer's worker thread starts here: TypeScript sources run through tsx's loader, which a
// worker does not inherit from the thread that started it.
import { register } from 'tsx/esm/api';

register();
await import('./worker-consumer.thread.ts');
