import { PwnmError, errorMessage } from '../errors.js';
import { isRefusal } from '../reasons.js';
import type { Session } from '../session.js';
import type { PatchRow } from '../store/store.js';
import { derivedTags } from '../sync/local.js';
import { findPatches } from './lookup.js';

// Delegate a message's patch on Patchwork, then fix its delegate tags.

export interface DelegateResult { instance: string; project: string; msgid: string; patchId: number; delegate: string | null; outcome: 'delegated' | 'refused'; reason?: string }

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

/** Delegate a message's patch to `username` (default: the instance's `me`), or clear it with null. */
export async function setDelegate(session: Session, msgidInput: string, username: string | null | undefined, options: { project?: string } = {}): Promise<DelegateResult[]> {
  const rows = await findPatches(session, msgidInput, options.project);
  session.claim(rows.map((r) => r.msgid));
  const results: DelegateResult[] = [];
  for (const row of rows) results.push(await delegateRow(session, row, username));
  return results;
}

async function delegateRow(session: Session, row: PatchRow, username: string | null | undefined): Promise<DelegateResult> {
  const inst = session.instance(row.instance);
  const who = username === undefined ? inst.me : username;
  if (who === undefined) throw new PwnmError('CONFIG', `set me = YOUR-USERNAME in [instance ${inst.name}] to delegate to yourself`);
  const client = await session.client(inst);
  const base = { instance: row.instance, project: row.project, msgid: row.msgid, patchId: row.patch_id, delegate: who };
  try {
    await client.updatePatch(row.patch_id, { delegate: who === null ? null : await userId(session, row.instance, who) }, row.project);
  } catch (err) {
    // Patchwork's own words: "not a maintainer", or an unknown user.
    if (isRefusal(err)) return { ...base, outcome: 'refused', reason: errorMessage(err) };
    throw err;
  }
  const before = derivedTags(session.scheme, session.config.tags, inst.me, row.project, row);
  session.store.setDelegate(row.instance, row.project, row.patch_id, who);
  const after = derivedTags(session.scheme, session.config.tags, inst.me, row.project, { ...row, delegate: who });
  await session.notmuch.tag([{ msgid: row.msgid, add: after, remove: before.filter((t) => !after.includes(t)) }]);
  return { ...base, outcome: 'delegated' };
}
