import type { Prefer } from '../config.js';

// The sync decision for one message in one project, as a pure function of
// what Patchwork says, what notmuch says, and what both last agreed on
// (DESIGN.md section 4). The engine does the I/O; this decides.

export interface PlanInput {
  /** State on Patchwork now. */
  remote: string;
  /** State both sides last agreed on; null when the message was never tagged. */
  baseline: string | null;
  /** State we were about to tag when a previous run stopped, if any. */
  journal: string | null;
  /** State slugs carried as tags; undefined when the mail is not in notmuch. */
  local: readonly string[] | undefined;
  /** The message lacks `patchwork` or the project tag. */
  missingBaseTags: boolean;
  prefer: Prefer;
  /** A token is configured, so pushes are possible. */
  canPush: boolean;
}

export interface Conflict { local: string; remote: string }

export type Plan =
  | { kind: 'none' }
  | { kind: 'missing' }
  /** Make the tags say `state` (and record it as agreed). */
  | { kind: 'retag'; state: string; why: 'new' | 'remote' | 'agree' | 'repair' | 'conflict'; conflict?: Conflict }
  /** Send `state` to Patchwork. */
  | { kind: 'push'; state: string; conflict?: Conflict }
  /** A local change that cannot be pushed (no token); kept as it is. */
  | { kind: 'blocked'; state: string }
  /** Several new state tags: the user's intent is unclear. */
  | { kind: 'ambiguous'; states: string[] };

export function plan(input: PlanInput): Plan {
  const { remote, local, prefer, canPush } = input;
  if (local === undefined) return { kind: 'missing' };
  const has = new Set(local);

  // A run that died between tagging and committing left the journal: when
  // the tags are exactly what we meant to write, they are ours, not the user's.
  const baseline = input.journal !== null && has.size === 1 && has.has(input.journal) ? input.journal : input.baseline;

  if (baseline === null) {
    return has.size === 1 && has.has(remote) && !input.missingBaseTags ? { kind: 'retag', state: remote, why: 'agree' } : { kind: 'retag', state: remote, why: 'new' };
  }
  if (has.size === 0) return { kind: 'retag', state: remote, why: 'repair' };

  const changed = [...has].filter((s) => s !== baseline);
  if (changed.length === 0) {
    if (remote !== baseline) return { kind: 'retag', state: remote, why: 'remote' };
    if (input.missingBaseTags || baseline !== input.baseline) return { kind: 'retag', state: remote, why: 'repair' };
    return { kind: 'none' };
  }
  if (changed.length > 1) return { kind: 'ambiguous', states: changed.sort() };

  const wanted = changed[0]!;
  if (wanted === remote) return { kind: 'retag', state: remote, why: 'agree' };
  if (remote === baseline) return canPush ? { kind: 'push', state: wanted } : { kind: 'blocked', state: wanted };
  const conflict = { local: wanted, remote };
  if (prefer === 'local') return canPush ? { kind: 'push', state: wanted, conflict } : { kind: 'blocked', state: wanted };
  return { kind: 'retag', state: remote, why: 'conflict', conflict };
}
