import { AsyncLocalStorage } from 'node:async_hooks';
import { PwnmError } from './errors.js';

// The AbortSignal of the request being served, carried with the async
// context: the Patchwork client aborts its HTTP exchange when the client of
// `serve` cancels the request, without every operation passing a signal on.

const current = new AsyncLocalStorage<AbortSignal>();

/** Run `fn` with `signal` as the current request's signal. */
export function withSignal<T>(signal: AbortSignal, fn: () => T): T {
  return current.run(signal, fn);
}

/** The signal of the request being served, if any. */
export function currentSignal(): AbortSignal | undefined {
  return current.getStore();
}

/** Throw the CANCELLED error when the current request was cancelled. */
export function throwIfCancelled(signal: AbortSignal | undefined = currentSignal()): void {
  if (signal?.aborted) throw new PwnmError('CANCELLED', 'cancelled by the client; what was done is kept');
}
