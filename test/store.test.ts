import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleRows } from '../server/store/bundles.js';
import Database from '../server/store/sqlite.js';
import { MIGRATIONS, Store } from '../server/store/store.js';

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
    // As the earlier version left it: the migrations before the bundles one, and the table it made on first use.
    const before = MIGRATIONS.findIndex((m) => m.includes('CREATE TABLE IF NOT EXISTS bundles'));
    expect(before).to.be.greaterThan(0);
    const old = new Database(file);
    for (const m of MIGRATIONS.slice(0, before)) old.exec(m);
    old.exec(MIGRATIONS[before]!.replace('IF NOT EXISTS ', ''));
    old.prepare('INSERT INTO bundles VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run('i', 7, 'p', 'n', 'me', 'pw-p-bundle-n', '["a@x"]', '["a@x"]');
    old.pragma(`user_version = ${before}`);
    old.close();
    const store = new Store(file);
    try {
      expect(store.db.pragma('user_version', { simple: true })).to.equal(MIGRATIONS.length);
      expect(bundleRows(store, 'i').map((r) => [r.bundle_id, r.tag, r.remote])).to.deep.equal([[7, 'pw-p-bundle-n', ['a@x']]]);
    } finally {
      store.close();
    }
  });
});
