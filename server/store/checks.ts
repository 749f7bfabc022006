import type { Store } from './store.js';

// The newest CI result per context of each patch, as the check-created
// events and the last read of a patch's checks gave them: the facts line in
// Emacs names the failing contexts without asking Patchwork. A patch whose
// checks came before we watched its events has none stored until `info`
// (`Y i`) reads them.

export interface StoredCheck {
  /** Patchwork's check id: a newer check of the same context replaces an older one. */
  id: number;
  /** Who reported it: the same context from two CI users is two results, as Patchwork counts them. */
  owner: string;
  context: string;
  state: string;
  targetUrl: string | null;
  description: string | null;
  date: string;
}

interface CheckRow { check_id: number; owner: string; context: string; state: string; target_url: string | null; description: string | null; date: string }

/** Keep these checks of a patch, each where it is newer than what is stored; `replace`: they are all of them. */
export function recordChecks(store: Store, instance: string, patchId: number, checks: readonly StoredCheck[], replace = false): void {
  const put = store.db.prepare(`INSERT INTO check_contexts (instance, patch_id, owner, context, check_id, state, target_url, description, date)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (instance, patch_id, owner, context) DO UPDATE SET check_id = excluded.check_id, state = excluded.state,
      target_url = excluded.target_url, description = excluded.description, date = excluded.date
    WHERE excluded.check_id >= check_contexts.check_id`);
  store.transaction(() => {
    if (replace) store.db.prepare('DELETE FROM check_contexts WHERE instance = ? AND patch_id = ?').run(instance, patchId);
    for (const c of checks) put.run(instance, patchId, c.owner, c.context, c.id, c.state, c.targetUrl, c.description, c.date);
  });
}

/** The stored results of a patch, by context; empty when none is known. */
export function storedChecks(store: Store, instance: string, patchId: number): StoredCheck[] {
  return store.db.prepare<[string, number], CheckRow>('SELECT * FROM check_contexts WHERE instance = ? AND patch_id = ? ORDER BY context, owner')
    .all(instance, patchId)
    .map((r) => ({ id: r.check_id, owner: r.owner, context: r.context, state: r.state, targetUrl: r.target_url, description: r.description, date: r.date }));
}
