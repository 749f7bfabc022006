import type { PatchRow, Store } from './store.js';

// What `thanks` remembers: each accepted patch it thanked for, and those it
// set aside as history when first used in a project (they are never thanked
// unless --since names them), plus when that first use was.

export type ThanksStatus = 'thanked' | 'history';

export function thanksStarted(store: Store, instance: string, project: string): string | undefined {
  return store.meta(`thanks-started:${instance}/${project}`);
}

export function startThanks(store: Store, instance: string, project: string, at: string): void {
  store.setMeta(`thanks-started:${instance}/${project}`, at);
}

/** The patches of a project in `state`, each with what thanks recorded for it (if anything). */
export function acceptedPatches(store: Store, instance: string, project: string, state: string): (PatchRow & { thanks: ThanksStatus | null })[] {
  return store.db.prepare<[string, string, string], PatchRow & { thanks: ThanksStatus | null }>(`SELECT p.*, t.status AS thanks FROM patches p
    LEFT JOIN thanks t ON t.instance = p.instance AND t.project = p.project AND t.msgid = p.msgid
    WHERE p.instance = ? AND p.project = ? AND p.remote = ? ORDER BY p.series_id, p.series_part, p.patch_id`).all(instance, project, state);
}

export function recordThanks(store: Store, instance: string, project: string, rows: readonly { msgid: string; status: ThanksStatus; commit?: string }[]): void {
  const put = store.db.prepare(`INSERT INTO thanks (instance, project, msgid, status, commit_sha, at) VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (instance, project, msgid) DO UPDATE SET status = excluded.status, commit_sha = excluded.commit_sha, at = excluded.at`);
  const at = new Date().toISOString();
  store.transaction(() => {
    for (const r of rows) put.run(instance, project, r.msgid, r.status, r.commit ?? null, at);
  });
}
