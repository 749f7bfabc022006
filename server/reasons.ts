import { PwnmError, errorMessage } from './errors.js';

// The words pwnm-sync uses for a change that did not go through, written
// once: the engine, set-state, delegate and accept-from-git all say the same.

/** Why a change waits: the instance has no token. */
export function readOnlyReason(instance: string): string {
  return `read-only: no token for ${instance}; the change waits until one is configured`;
}

/** Patchwork refused the change for good (not a maintainer, a value it rejects): retrying will not help. */
export function isRefusal(err: unknown): err is PwnmError {
  return err instanceof PwnmError && (err.code === 'FORBIDDEN' || err.code === 'BAD_REQUEST');
}

/** The reason kept with a refused state change. */
export function refusalReason(err: PwnmError, project: string, instance: string): string {
  return err.code === 'FORBIDDEN' ? `not a maintainer of ${project} on ${instance}` : errorMessage(err);
}
