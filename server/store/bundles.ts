import type { Store } from './store.js';

// What the last sync agreed about each bundle: its patch list on Patchwork
// (`remote`) and the messages that carried its tag (`tagged`), both as
// notmuch message-ids. A change on either side is a difference from these.
// The table is made by a migration (server/store/store.ts).

export interface BundleRow {
  instance: string;
  bundle_id: number;
  project: string;
  name: string;
  owner: string;
  tag: string;
  remote: string[];
  tagged: string[];
}

interface RawRow extends Omit<BundleRow, 'remote' | 'tagged'> { remote: string; tagged: string }

const parse = (r: RawRow): BundleRow => ({ ...r, remote: JSON.parse(r.remote) as string[], tagged: JSON.parse(r.tagged) as string[] });

export function bundleRows(store: Store, instance: string): BundleRow[] {
  return store.db.prepare<[string], RawRow>('SELECT * FROM bundles WHERE instance = ? ORDER BY bundle_id').all(instance).map(parse);
}

export function putBundleRow(store: Store, row: BundleRow): void {
  store.db.prepare(`INSERT INTO bundles (instance, bundle_id, project, name, owner, tag, remote, tagged)
    VALUES (@instance, @bundle_id, @project, @name, @owner, @tag, @remote, @tagged)
    ON CONFLICT (instance, bundle_id) DO UPDATE SET project = excluded.project, name = excluded.name, owner = excluded.owner,
      tag = excluded.tag, remote = excluded.remote, tagged = excluded.tagged`)
    .run({ ...row, remote: JSON.stringify([...new Set(row.remote)].sort()), tagged: JSON.stringify([...new Set(row.tagged)].sort()) });
}

export function dropBundleRow(store: Store, instance: string, bundleId: number): void {
  store.db.prepare('DELETE FROM bundles WHERE instance = ? AND bundle_id = ?').run(instance, bundleId);
}

/** The bundle step's waiting writes of an instance, as pending items of kind `bundle` (replaced by every sync). */
export function setBundlePending(store: Store, instance: string, rows: readonly { project: string; msgid: string; label: string; reason: string }[]): void {
  store.db.prepare("DELETE FROM pending WHERE instance = ? AND kind = 'bundle'").run(instance);
  for (const r of rows) store.putPending({ instance, project: r.project, msgid: r.msgid, kind: 'bundle', state: r.label, reason: r.reason });
}

/** Where the bundle step last read notmuch up to (skip the dump when nothing changed since). */
export function bundleMark(store: Store, instance: string): string | undefined {
  return store.meta(`bundles-lastmod:${instance}`);
}

export function setBundleMark(store: Store, instance: string, mark: string): void {
  store.setMeta(`bundles-lastmod:${instance}`, mark);
}
