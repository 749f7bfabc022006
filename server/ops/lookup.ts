import { PwnmError } from '../errors.js';
import { notmuchMessageId } from '../mail/message-id.js';
import { apiAtLeast, FILTERS_SINCE } from '../patchwork/api-version.js';
import type { PwPatch } from '../patchwork/types.js';
import type { Session } from '../session.js';
import type { PatchRow } from '../store/store.js';
import { toRemote } from '../patchwork/remote.js';

// Finding patches by Message-ID or diff hash: the state database first,
// else Patchwork's list filters, which only servers with API 1.2 or newer
// honour (older ones drop the filter silently and answer with everything).

export type Selection = ReturnType<Session['select']>[number];

/** A Message-ID as the user gives it (`id:x`, `<x>`), in notmuch's form. */
export function messageIdOf(input: string): string {
  return notmuchMessageId(input.replace(/^id:/, ''));
}

/** GET `resource` filtered by `filter` in one selected project; undefined when the server is too old for the filter. */
export async function askFiltered<T>(session: Session, sel: Selection, resource: 'patches' | 'covers', filter: Record<string, string>): Promise<T[] | undefined> {
  const client = await session.client(sel.instance);
  if (!apiAtLeast(await client.discover(), FILTERS_SINCE)) return undefined;
  return client.get<T[]>(resource, { project: sel.project, ...filter });
}

/** Ask Patchwork for the patches `filter` names in every selected project, and store those `keep` accepts. */
export async function fetchPatches(session: Session, selected: readonly Selection[], filter: Record<string, string>, keep: (p: PwPatch) => boolean): Promise<void> {
  for (const sel of selected) {
    const found = (await askFiltered<PwPatch>(session, sel, 'patches', filter)) ?? [];
    const match = found.filter(keep);
    if (match.length) session.store.upsertPatches(sel.instance.name, sel.project, match.map(toRemote));
  }
}

/** The patch rows for a message-id, looked up on Patchwork (msgid filter) when not stored yet. */
export async function findPatches(session: Session, msgidInput: string, project?: string): Promise<PatchRow[]> {
  const msgid = messageIdOf(msgidInput);
  const selected = session.select(project ? [project] : undefined);
  const wanted = (r: PatchRow): boolean => selected.some((s) => s.instance.name === r.instance && s.project === r.project);
  let rows = session.store.patchesByMsgid(msgid).filter(wanted);
  if (rows.length > 0) return rows;
  await fetchPatches(session, selected, { msgid }, (p) => notmuchMessageId(p.msgid) === msgid);
  rows = session.store.patchesByMsgid(msgid).filter(wanted);
  if (rows.length === 0) {
    throw new PwnmError('NOT_FOUND', `no patch with Message-ID ${msgid} in ${selected.map((s) => s.project).join(', ')}`, { details: { msgid } });
  }
  return rows;
}

/** Re-read stored patches from Patchwork by id, store what it says now, and return its answers. */
export async function refreshPatches<T extends PwPatch = PwPatch>(session: Session, rows: readonly PatchRow[]): Promise<T[]> {
  const patches: T[] = [];
  for (const row of rows) {
    const client = await session.client(session.instance(row.instance));
    const patch = await client.get<T>(`patches/${row.patch_id}`);
    session.store.upsertPatches(row.instance, row.project, [toRemote(patch)]);
    patches.push(patch);
  }
  return patches;
}
