import { PwnmError, errorMessage } from '../errors.js';
import { notmuchMessageId } from '../notmuch/encoding.js';
import type { PwPatch } from '../patchwork/types.js';
import type { Session } from '../session.js';
import type { PatchRow } from '../store/store.js';
import { slugify } from '../patchwork/client.js';
import { toRemote } from '../patchwork/remote.js';
import { mapLimit } from '../util.js';
import { derivedTags } from './local.js';

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

/** The patch rows for a message-id, looked up on Patchwork (msgid filter) when not stored yet. */
export async function findPatches(session: Session, msgidInput: string, project?: string): Promise<PatchRow[]> {
  const msgid = notmuchMessageId(msgidInput.replace(/^id:/, ''));
  const selected = session.select(project ? [project] : undefined);
  const wanted = (r: PatchRow): boolean => selected.some((s) => s.instance.name === r.instance && s.project === r.project);
  let rows = session.store.patchesByMsgid(msgid).filter(wanted);
  if (rows.length > 0) return rows;
  for (const sel of selected) {
    const client = await session.client(sel.instance);
    const version = await client.discover();
    if (version < '1.2') continue; // msgid filter is silently ignored before 1.2
    const found = await client.get<PwPatch[]>('patches', { project: sel.project, msgid });
    const match = found.filter((p) => notmuchMessageId(p.msgid) === msgid);
    if (match.length) session.store.upsertPatches(sel.instance.name, sel.project, match.map(toRemote));
  }
  rows = session.store.patchesByMsgid(msgid).filter(wanted);
  if (rows.length === 0) {
    throw new PwnmError('NOT_FOUND', `no patch with Message-ID ${msgid} in ${selected.map((s) => s.project).join(', ')}`, { details: { msgid } });
  }
  return rows;
}

/**
 * Set the state of a message's patch (in each project it is in), or with
 * `series` of every patch of its series, with bounded concurrency.
 */
export async function setState(session: Session, msgidInput: string, stateInput: string, options: { project?: string; series?: boolean } = {}): Promise<SetStateResult[]> {
  const state = slugify(stateInput);
  if (!state) throw new PwnmError('USAGE', `"${stateInput}" is not a state name`);
  let rows = await findPatches(session, msgidInput, options.project);
  if (options.series) {
    rows = rows.flatMap((r) => (r.series_id === null ? [r] : session.store.seriesPatches(r.instance, r.project, r.series_id)));
  }
  session.claim(rows.map((r) => r.msgid));
  return mapLimit(rows, session.config.concurrency, (row) => pushState(session, row, state));
}

/**
 * Push `state` (and any `extra` fields, e.g. commit_ref) for one patch row,
 * then retag its message. Used by set-state and accept-from-git.
 */
export async function pushState(session: Session, row: PatchRow, state: string, extra: { commit_ref?: string } = {}): Promise<SetStateResult> {
  const inst = session.instance(row.instance);
  const client = await session.client(inst);
  const base = { instance: row.instance, project: row.project, msgid: row.msgid, patchId: row.patch_id, state };
  const retag = async (commit: boolean, to: string): Promise<void> => {
    // One notmuch call, no dump first: removing a state tag the message
    // does not carry is a no-op, and a mail not here yet matches nothing.
    const known = [...new Set([...session.store.knownStates(row.instance, row.project), row.remote, to])];
    const remove = known.filter((s) => s !== to).map((s) => session.scheme.state(row.project, s));
    if (commit) session.store.setJournal(row.instance, row.project, row.msgid, to);
    await session.notmuch.tag([{ msgid: row.msgid, add: session.scheme.forState(row.project, to), remove }]);
    if (commit) session.store.commitBaseline(row.instance, row.project, row.msgid, to);
  };
  if (!client.canWrite) {
    await retag(false, state);
    const reason = `read-only: no token for ${inst.name}; the change waits until one is configured`;
    session.store.putPending({ instance: row.instance, project: row.project, msgid: row.msgid, kind: 'push', state, reason });
    return { ...base, outcome: 'queued', reason };
  }
  try {
    await client.updatePatch(row.patch_id, { state, ...extra }, row.project);
    session.store.setRemote(row.instance, row.project, row.msgid, state);
    session.store.dropPending(row.instance, row.project, row.msgid, 'push');
    await retag(true, state);
    return { ...base, outcome: row.remote === state ? 'unchanged' : 'pushed' };
  } catch (err) {
    if (err instanceof PwnmError && (err.code === 'FORBIDDEN' || err.code === 'BAD_REQUEST')) {
      const reason = err.code === 'FORBIDDEN' ? `not a maintainer of ${row.project} on ${inst.name}` : errorMessage(err);
      session.store.putPending({ instance: row.instance, project: row.project, msgid: row.msgid, kind: 'refused', state, reason });
      await retag(true, row.remote);
      return { ...base, outcome: 'refused', reason };
    }
    if (err instanceof PwnmError && err.code !== 'AUTH' && err.code !== 'INTERNAL') {
      await retag(false, state);
      const reason = errorMessage(err);
      session.store.putPending({ instance: row.instance, project: row.project, msgid: row.msgid, kind: 'push', state, reason, attempts: 1 });
      return { ...base, outcome: 'queued', reason };
    }
    throw err;
  }
}

/** Patchwork user id of a username (the API wants ids; there is no "who am I"). */
async function userId(session: Session, instance: string, username: string): Promise<number> {
  const key = `user:${instance}:${username}`;
  const cached = session.store.meta(key);
  if (cached) return Number(cached);
  const client = await session.client(session.instance(instance));
  const users = await client.get<{ id: number; username: string }[]>('users', { q: username });
  const user = users.find((u) => u.username === username);
  if (!user) throw new PwnmError('NOT_FOUND', `${instance}: no Patchwork user named ${username}; check the me setting`);
  session.store.setMeta(key, String(user.id));
  return user.id;
}

export interface DelegateResult { instance: string; project: string; msgid: string; patchId: number; delegate: string | null; outcome: 'delegated' | 'refused'; reason?: string }

/** Delegate a message's patch to `username` (default: the instance's `me`), or clear it with null. */
export async function setDelegate(session: Session, msgidInput: string, username: string | null | undefined, options: { project?: string } = {}): Promise<DelegateResult[]> {
  const rows = await findPatches(session, msgidInput, options.project);
  session.claim(rows.map((r) => r.msgid));
  const results: DelegateResult[] = [];
  for (const row of rows) {
    const inst = session.instance(row.instance);
    const who = username === undefined ? inst.me : username;
    if (who === undefined) throw new PwnmError('CONFIG', `set me = YOUR-USERNAME in [instance ${inst.name}] to delegate to yourself`);
    const client = await session.client(inst);
    const base = { instance: row.instance, project: row.project, msgid: row.msgid, patchId: row.patch_id, delegate: who };
    try {
      await client.updatePatch(row.patch_id, { delegate: who === null ? null : await userId(session, row.instance, who) }, row.project);
    } catch (err) {
      if (err instanceof PwnmError && (err.code === 'FORBIDDEN' || err.code === 'BAD_REQUEST')) {
        results.push({ ...base, outcome: 'refused', reason: errorMessage(err) });
        continue;
      }
      throw err;
    }
    const before = derivedTags(session.scheme, session.config.tags, inst.me, row.project, row);
    session.store.setDelegate(row.instance, row.project, row.patch_id, who);
    const after = derivedTags(session.scheme, session.config.tags, inst.me, row.project, { ...row, delegate: who });
    await session.notmuch.tag([{ msgid: row.msgid, add: after, remove: before.filter((t) => !after.includes(t)) }]);
    results.push({ ...base, outcome: 'delegated' });
  }
  return results;
}
