import { PwnmError, errorMessage } from '../errors.js';
import { isRefusal, readOnlyReason, refusalReason } from '../reasons.js';
import type { Session } from '../session.js';
import type { PatchRow } from '../store/store.js';
import { slugify } from '../tags.js';
import { mapLimit } from '../util.js';
import { throwIfCancelled } from '../cancel.js';
import { askFiltered, findPatches, messageIdOf } from './lookup.js';
import { notmuchMessageId } from '../mail/message-id.js';

// Set one message's state now: push to Patchwork, then retag. A push that
// fails for a passing reason still retags locally, so the change stays
// visible in notmuch and the next sync pushes it: nothing is lost.

export type Outcome = 'pushed' | 'queued' | 'refused' | 'unchanged';

export interface SetStateResult {
  instance: string;
  project: string;
  msgid: string;
  patchId: number;
  state: string;
  outcome: Outcome;
  reason?: string;
}

/**
 * Set the state of a message's patch (in each project it is in), or with
 * `series` of every patch of its series, with bounded concurrency.
 */
export async function setState(session: Session, msgidInput: string, stateInput: string, options: { project?: string; series?: boolean; onResult?: OnResult } = {}): Promise<SetStateResult[]> {
  const state = slugify(stateInput);
  if (!state) throw new PwnmError('USAGE', `"${stateInput}" is not a state name`);
  return setStateOfRows(session, await targetRows(session, msgidInput, options), state, options.onResult);
}

/**
 * The patch rows a setState would change: the message's patch, or with
 * `series` every patch of its series; a cover letter (no patch) with
 * `series` means the series Patchwork files it under.
 */
export async function targetRows(session: Session, msgidInput: string, options: { project?: string; series?: boolean }): Promise<PatchRow[]> {
  let rows: PatchRow[];
  try {
    rows = await findPatches(session, msgidInput, options.project);
  } catch (err) {
    if (!(options.series && err instanceof PwnmError && err.code === 'NOT_FOUND')) throw err;
    const cover = await coverSeriesRows(session, messageIdOf(msgidInput), options.project);
    if (!cover) throw err;
    return cover;
  }
  if (!options.series) return rows;
  return rows.flatMap((r) => (r.series_id === null ? [r] : session.store.seriesPatches(r.instance, r.project, r.series_id)));
}

/** The stored patches of a cover letter's series (covers?msgid= needs API 1.2, as for patches). */
async function coverSeriesRows(session: Session, msgid: string, project?: string): Promise<PatchRow[] | undefined> {
  for (const sel of session.select(project ? [project] : undefined)) {
    const covers = await askFiltered<{ msgid: string; series?: { id: number }[] }>(session, sel, 'covers', { msgid });
    const series = covers?.find((c) => notmuchMessageId(c.msgid) === msgid)?.series?.[0];
    if (series) return session.store.seriesPatches(sel.instance.name, sel.project, series.id);
  }
  return undefined;
}

/** Told of each patch's result as it comes, with how many of how many are done. */
export type OnResult = (result: SetStateResult, done: number, total: number) => void;

/** Set `state` on these patch rows now (set-state, apply --state). */
export function setStateOfRows(session: Session, rows: PatchRow[], state: string, onResult?: OnResult): Promise<SetStateResult[]> {
  session.claim(rows.map((r) => r.msgid));
  let done = 0;
  return mapLimit(rows, session.config.concurrency, async (row) => {
    throwIfCancelled();
    const result = await pushState(session, row, state);
    onResult?.(result, ++done, rows.length);
    return result;
  });
}

/** Make a message's state tags say `to`; with `commit`, record it as agreed with Patchwork. */
async function retag(session: Session, row: PatchRow, to: string, commit: boolean): Promise<void> {
  // One notmuch call, no dump first: removing a state tag the message
  // does not carry is a no-op, and a mail not here yet matches nothing.
  const known = [...new Set([...session.store.knownStates(row.instance, row.project), row.remote, to])];
  const remove = known.filter((s) => s !== to).map((s) => session.scheme.state(row.project, s));
  if (commit) session.store.setJournal(row.instance, row.project, row.msgid, to);
  await session.notmuch.tag([{ msgid: row.msgid, add: session.scheme.forState(row.project, to), remove }]);
  if (commit) session.store.commitBaseline(row.instance, row.project, row.msgid, to);
}

/** The change stays in the tags and waits in the pending list for the next sync. */
async function queue(session: Session, row: PatchRow, state: string, reason: string, attempts?: number): Promise<void> {
  await retag(session, row, state, false);
  session.store.putPending({ instance: row.instance, project: row.project, msgid: row.msgid, kind: 'push', state, reason, ...(attempts ? { attempts } : {}) });
}

/**
 * Push `state` (and any `extra` fields, e.g. commit_ref) for one patch row,
 * then retag its message. Used by set-state, apply and accept-from-git.
 */
export async function pushState(session: Session, row: PatchRow, state: string, extra: { commit_ref?: string } = {}): Promise<SetStateResult> {
  const inst = session.instance(row.instance);
  const client = await session.client(inst);
  const base = { instance: row.instance, project: row.project, msgid: row.msgid, patchId: row.patch_id, state };
  if (!client.canWrite) {
    const reason = readOnlyReason(inst.name);
    await queue(session, row, state, reason);
    return { ...base, outcome: 'queued', reason };
  }
  try {
    await client.updatePatch(row.patch_id, { state, ...extra }, row.project);
    session.store.setRemote(row.instance, row.project, row.msgid, state);
    session.store.dropPending(row.instance, row.project, row.msgid, 'push');
    await retag(session, row, state, true);
    return { ...base, outcome: row.remote === state ? 'unchanged' : 'pushed' };
  } catch (err) {
    if (isRefusal(err)) {
      // Refused for good: the tags go back to what Patchwork still says.
      const reason = refusalReason(err, row.project, inst.name);
      session.store.putPending({ instance: row.instance, project: row.project, msgid: row.msgid, kind: 'refused', state, reason });
      await retag(session, row, row.remote, true);
      return { ...base, outcome: 'refused', reason };
    }
    // A cancelled request changes nothing more; AUTH is for the caller to fix.
    if (err instanceof PwnmError && err.code !== 'AUTH' && err.code !== 'CANCELLED') {
      const reason = errorMessage(err);
      await queue(session, row, state, reason, 1);
      return { ...base, outcome: 'queued', reason };
    }
    throw err;
  }
}
