import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleRows, putBundleRow } from '../server/store/bundles.js';
import { Store } from '../server/store/store.js';

// The state database's schema comes from numbered migrations, each run once
// (PRAGMA user_version), never from a module's first use.

describe('state database migrations', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pwnm-store-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const columns = (store: Store, table: string): string[] =>
    store.db.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${table}')`).all().map((c) => c.name);

  it('a new database holds the bundles table as soon as it opens, before any bundle is read', () => {
    const store = new Store(join(dir, 'state.db'));
    try {
      expect(columns(store, 'bundles')).to.deep.equal(['instance', 'bundle_id', 'project', 'name', 'owner', 'tag', 'remote', 'tagged']);
    } finally {
      store.close();
    }
  });

  it('a database whose bundles table an earlier version made on first use migrates and keeps its rows', () => {
    const file = join(dir, 'state.db');
    const old = new Store(file);
    const version = old.db.pragma('user_version', { simple: true }) as number;
    putBundleRow(old, { instance: 'i', bundle_id: 7, project: 'p', name: 'n', owner: 'me', tag: 'pw-p-bundle-n', remote: ['a@x'], tagged: ['a@x'] });
    // As the earlier version left it: the table there, the bundles migration not yet run.
    old.db.pragma(`user_version = ${version - 1}`);
    old.close();
    const store = new Store(file);
    try {
      expect(store.db.pragma('user_version', { simple: true })).to.equal(version);
      expect(bundleRows(store, 'i').map((r) => [r.bundle_id, r.tag, r.remote])).to.deep.equal([[7, 'pw-p-bundle-n', ['a@x']]]);
    } finally {
      store.close();
    }
  });
});
