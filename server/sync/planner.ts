import type { Prefer } from '../config.js';

// The whole sync decision for one message in one project, as a pure
// function of what Patchwork says, what notmuch says, what both last agreed
// on (DESIGN.md section 4) and the run's configuration. The engine does the
// I/O; this decides: retag, push, queue, report.

/** Whether this run may write to Patchwork. */
export type Access = 'write' | 'read-only' | 'local-only';

export interface PlanInput {
  /** Patchwork's state and archived flag now. */
  remote: { state: string; archived: boolean };
  /** What both sides last agreed on; null when the message was never tagged. */
  agreed: { state: string | null; archived: boolean | null };
  /** State we were about to tag when a previous run stopped, if any. */
  journal: string | null;
  /** The message's tags as read; undefined when the mail is not in notmuch. */
  local: LocalTags | undefined;
  prefer: Prefer;
  access: Access;
  /** The archived tag family is on. */
  archivedFamily: boolean;
  /** A focused push claimed the message while this sync runs: it is that push's business. */
  claimed: boolean;
}

export interface LocalTags {
  /** State slugs the tags name. */
  states: readonly string[];
  /** The message lacks `patchwork` or the project tag. */
  missingBaseTags: boolean;
  /** The archived tag is on. */
  archived: boolean;
}

export interface Conflict { local: string; remote: string }

/** A change to send to Patchwork: a new state, a new archived flag, or both. */
export interface Change { state?: string; archived?: boolean }

export type Action =
  | { kind: 'skip' }
  | { kind: 'missing' }
  /** Several new state tags: the user's intent is unclear. */
  | { kind: 'ambiguous'; states: string[] }
  /** A change that cannot go out in this run; kept and recorded as pending. */
  | { kind: 'queue'; change: Change; why: 'read-only' | 'local-only' }
  /** Send `change`; the tags are retagged once Patchwork answers. */
  | { kind: 'push'; change: Change; conflict?: Conflict }
  /**
   * Make the tags say `state` (and `archived`, when given) and record that
   * as agreed; `quiet`: the state was already agreed, so only derived or
   * archived tags may move. `push` is an archived flag sent alongside.
   */
  | { kind: 'retag'; state: string; archived?: boolean; quiet: boolean; conflict?: Conflict; push?: Change };

/** The state rule alone: what the tags and Patchwork say about the state. */
type StatePlan =
  | { kind: 'none' }
  | { kind: 'retag'; state: string; conflict?: Conflict }
  | { kind: 'push'; state: string; conflict?: Conflict }
  | { kind: 'ambiguous'; states: string[] };

function planState(input: PlanInput, local: LocalTags): StatePlan {
  const { remote: { state: remote }, prefer } = input;
  const has = new Set(local.states);
  // A run that died between tagging and committing left the journal: when
  // the tags are exactly what we meant to write, they are ours, not the user's.
  const baseline = input.journal !== null && has.size === 1 && has.has(input.journal) ? input.journal : input.agreed.state;

  if (baseline === null) return { kind: 'retag', state: remote };
  if (has.size === 0) return { kind: 'retag', state: remote };

  const changed = [...has].filter((s) => s !== baseline);
  if (changed.length === 0) {
    if (remote !== baseline || local.missingBaseTags || baseline !== input.agreed.state) return { kind: 'retag', state: remote };
    return { kind: 'none' };
  }
  if (changed.length > 1) return { kind: 'ambiguous', states: changed.sort() };

  const wanted = changed[0]!;
  if (wanted === remote) return { kind: 'retag', state: remote };
  if (remote === baseline) return { kind: 'push', state: wanted };
  const conflict = { local: wanted, remote };
  if (prefer === 'local') return { kind: 'push', state: wanted, conflict };
  return { kind: 'retag', state: remote, conflict };
}

/**
 * The archived flag: a local toggle since the last agreement goes out when
 * Patchwork did not toggle; otherwise the tag follows Patchwork (a flag
 * toggled on both sides agrees, so it has no conflict and `prefer` does
 * not matter). Undefined push: nothing to send.
 */
function planArchived(input: PlanInput, local: LocalTags): { target: boolean; push?: boolean } {
  const { remote: { archived: remote }, agreed: { archived: base } } = input;
  if (base !== null && remote === base && local.archived !== base) return { target: local.archived, push: local.archived };
  return { target: remote };
}

export function plan(input: PlanInput): Action {
  const { local, access } = input;
  if (input.claimed) return { kind: 'skip' };
  if (local === undefined) return { kind: 'missing' };
  const state = planState(input, local);
  if (state.kind === 'ambiguous') return state;
  const archived = input.archivedFamily ? planArchived(input, local) : undefined;
  // Read-only and a new state to send: the state waits, the archived flag with it is not queued.
  if (state.kind === 'push' && access === 'read-only') return { kind: 'queue', change: { state: state.state }, why: 'read-only' };
  const change: Change = {
    ...(state.kind === 'push' ? { state: state.state } : {}),
    ...(archived?.push !== undefined ? { archived: archived.push } : {}),
  };
  const pushing = change.state !== undefined || change.archived !== undefined;
  if (pushing && access !== 'write') return { kind: 'queue', change, why: access };
  if (state.kind === 'push') return { kind: 'push', change, ...(state.conflict ? { conflict: state.conflict } : {}) };
  // An archived flag on its way to Patchwork is left alone until the push confirms it.
  return {
    kind: 'retag',
    state: state.kind === 'retag' ? state.state : input.remote.state,
    ...(archived && !pushing ? { archived: archived.target } : {}),
    quiet: state.kind === 'none',
    ...(state.kind === 'retag' && state.conflict ? { conflict: state.conflict } : {}),
    ...(pushing ? { push: change } : {}),
  };
}
