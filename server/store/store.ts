import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

// The state database: what we last agreed with Patchwork and notmuch, per
// (instance, project, message-id). WAL mode so that `status` and the Emacs
// server read while a sync writes; migrations by PRAGMA user_version.

const MIGRATIONS: string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE projects (
     instance TEXT NOT NULL, link_name TEXT NOT NULL, project_id INTEGER NOT NULL,
     list_email TEXT, api_version TEXT, full_sync_at TEXT,
     PRIMARY KEY (instance, link_name));
   CREATE TABLE patches (
     instance TEXT NOT NULL, project TEXT NOT NULL, msgid TEXT NOT NULL,
     patch_id INTEGER NOT NULL,
     remote TEXT NOT NULL,      -- state last seen on Patchwork
     baseline TEXT,             -- state last agreed by both sides; NULL: never tagged
     journal TEXT,              -- state we are about to tag; see DESIGN "crash after tagging"
     archived INTEGER NOT NULL DEFAULT 0,
     date TEXT, name TEXT, web_url TEXT, mbox TEXT,
     PRIMARY KEY (instance, project, msgid)) WITHOUT ROWID;
   CREATE INDEX patches_msgid ON patches (msgid);
   CREATE INDEX patches_untagged ON patches (instance, project) WHERE baseline IS NULL;
   CREATE TABLE pending (
     instance TEXT NOT NULL, project TEXT NOT NULL, msgid TEXT NOT NULL,
     kind TEXT NOT NULL,        -- push | conflict | ambiguous | refused
     state TEXT, reason TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
     updated TEXT NOT NULL,
     PRIMARY KEY (instance, project, msgid, kind));
   CREATE TABLE states (instance TEXT NOT NULL, project TEXT NOT NULL, slug TEXT NOT NULL,
     PRIMARY KEY (instance, project, slug));`,
];

export interface PatchRow {
  instance: string;
  project: string;
  msgid: string;
  patch_id: number;
  remote: string;
  baseline: string | null;
  journal: string | null;
  archived: number;
  date: string | null;
  name: string | null;
  web_url: string | null;
  mbox: string | null;
}

export type RemotePatch = Pick<PatchRow, 'msgid' | 'patch_id' | 'remote' | 'archived' | 'date' | 'name' | 'web_url' | 'mbox'>;

export type PendingKind = 'push' | 'conflict' | 'ambiguous' | 'refused';

export interface PendingRow {
  instance: string;
  project: string;
  msgid: string;
  kind: PendingKind;
  state: string | null;
  reason: string;
  attempts: number;
  updated: string;
}

export interface ProjectRow {
  instance: string;
  link_name: string;
  project_id: number;
  list_email: string | null;
  api_version: string | null;
  full_sync_at: string | null;
}

export class Store {
  readonly db: Database.Database;
  private readonly stmt;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { timeout: 10_000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.migrate();
    const db = this.db;
    this.stmt = {
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      getProject: db.prepare<[string, string], ProjectRow>('SELECT * FROM projects WHERE instance = ? AND link_name = ?'),
      putProject: db.prepare(`INSERT INTO projects (instance, link_name, project_id, list_email, api_version)
        VALUES (@instance, @link_name, @project_id, @list_email, @api_version)
        ON CONFLICT (instance, link_name) DO UPDATE SET project_id = excluded.project_id,
          list_email = excluded.list_email, api_version = excluded.api_version`),
      setFullSync: db.prepare('UPDATE projects SET full_sync_at = ? WHERE instance = ? AND link_name = ?'),
      getPatch: db.prepare<[string, string, string], PatchRow>('SELECT * FROM patches WHERE instance = ? AND project = ? AND msgid = ?'),
      patchesByMsgid: db.prepare<[string], PatchRow>('SELECT * FROM patches WHERE msgid = ?'),
      upsertPatch: db.prepare(`INSERT INTO patches (instance, project, msgid, patch_id, remote, archived, date, name, web_url, mbox)
        VALUES (@instance, @project, @msgid, @patch_id, @remote, @archived, @date, @name, @web_url, @mbox)
        ON CONFLICT (instance, project, msgid) DO UPDATE SET patch_id = excluded.patch_id, remote = excluded.remote,
          archived = excluded.archived, date = excluded.date, name = excluded.name, web_url = excluded.web_url, mbox = excluded.mbox`),
      setRemote: db.prepare('UPDATE patches SET remote = ? WHERE instance = ? AND project = ? AND msgid = ?'),
      setJournal: db.prepare('UPDATE patches SET journal = ? WHERE instance = ? AND project = ? AND msgid = ?'),
      commitBaseline: db.prepare('UPDATE patches SET baseline = ?, journal = NULL WHERE instance = ? AND project = ? AND msgid = ?'),
      untagged: db.prepare<[string, string], { n: number }>('SELECT count(*) AS n FROM patches WHERE instance = ? AND project = ? AND baseline IS NULL'),
      countPatches: db.prepare<[string, string], { n: number }>('SELECT count(*) AS n FROM patches WHERE instance = ? AND project = ?'),
      putPending: db.prepare(`INSERT INTO pending (instance, project, msgid, kind, state, reason, attempts, updated)
        VALUES (@instance, @project, @msgid, @kind, @state, @reason, @attempts, @updated)
        ON CONFLICT (instance, project, msgid, kind) DO UPDATE SET state = excluded.state, reason = excluded.reason,
          attempts = pending.attempts + excluded.attempts, updated = excluded.updated`),
      dropPending: db.prepare('DELETE FROM pending WHERE instance = ? AND project = ? AND msgid = ? AND kind = ?'),
      pendingFor: db.prepare<[string, string], PendingRow>('SELECT * FROM pending WHERE instance = ? AND project = ? ORDER BY updated'),
      allPending: db.prepare<[], PendingRow>('SELECT * FROM pending ORDER BY instance, project, updated'),
      addState: db.prepare('INSERT OR IGNORE INTO states (instance, project, slug) VALUES (?, ?, ?)'),
      states: db.prepare<[string, string], { slug: string }>('SELECT slug FROM states WHERE instance = ? AND project = ?'),
    };
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  close(): void {
    this.db.close();
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  meta(key: string): string | undefined {
    return this.stmt.getMeta.get(key)?.value;
  }

  setMeta(key: string, value: string): void {
    this.stmt.setMeta.run(key, value);
  }

  project(instance: string, linkName: string): ProjectRow | undefined {
    return this.stmt.getProject.get(instance, linkName);
  }

  putProject(row: Omit<ProjectRow, 'full_sync_at'>): void {
    this.stmt.putProject.run(row);
  }

  markFullSync(instance: string, linkName: string, when: string): void {
    this.stmt.setFullSync.run(when, instance, linkName);
  }

  patch(instance: string, project: string, msgid: string): PatchRow | undefined {
    return this.stmt.getPatch.get(instance, project, msgid);
  }

  /** Every project's row for a message-id (a patch sent to several lists). */
  patchesByMsgid(msgid: string): PatchRow[] {
    return this.stmt.patchesByMsgid.all(msgid);
  }

  upsertPatches(instance: string, project: string, patches: readonly RemotePatch[]): void {
    this.transaction(() => {
      for (const p of patches) {
        this.stmt.upsertPatch.run({ instance, project, ...p });
        this.stmt.addState.run(instance, project, p.remote);
      }
    });
  }

  setRemote(instance: string, project: string, msgid: string, state: string): void {
    this.stmt.setRemote.run(state, instance, project, msgid);
    this.stmt.addState.run(instance, project, state);
  }

  setJournal(instance: string, project: string, msgid: string, state: string | null): void {
    this.stmt.setJournal.run(state, instance, project, msgid);
  }

  commitBaseline(instance: string, project: string, msgid: string, state: string): void {
    this.stmt.commitBaseline.run(state, instance, project, msgid);
  }

  untaggedCount(instance: string, project: string): number {
    return this.stmt.untagged.get(instance, project)?.n ?? 0;
  }

  patchCount(instance: string, project: string): number {
    return this.stmt.countPatches.get(instance, project)?.n ?? 0;
  }

  putPending(row: Omit<PendingRow, 'updated' | 'attempts'> & { attempts?: number }): void {
    this.stmt.putPending.run({ ...row, attempts: row.attempts ?? 0, updated: new Date().toISOString() });
  }

  dropPending(instance: string, project: string, msgid: string, kind: PendingKind): void {
    this.stmt.dropPending.run(instance, project, msgid, kind);
  }

  pending(instance?: string, project?: string): PendingRow[] {
    return instance && project ? this.stmt.pendingFor.all(instance, project) : this.stmt.allPending.all();
  }

  knownStates(instance: string, project: string): string[] {
    return this.stmt.states.all(instance, project).map((r) => r.slug);
  }
}
