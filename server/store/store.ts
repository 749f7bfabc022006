import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database, { type SqliteDatabase } from './sqlite.js';
import { DEFAULT_STATES } from '../states.js';

// The state database: what we last agreed with Patchwork and notmuch, per
// (instance, project, message-id). WAL mode so that `status` and the Emacs
// server read while a sync writes; migrations by PRAGMA user_version.

export const MIGRATIONS: string[] = [
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
  // Incremental sync: where the events and notmuch's lastmod were read up to.
  `ALTER TABLE projects ADD COLUMN event_mark TEXT;        -- date of the newest event applied
   ALTER TABLE projects ADD COLUMN event_ids TEXT;         -- JSON ids of events near the mark, to skip on re-read
   ALTER TABLE projects ADD COLUMN has_events INTEGER;     -- 0: the server has no events API
   ALTER TABLE projects ADD COLUMN nm_uuid TEXT;           -- notmuch database the lastmod belongs to
   ALTER TABLE projects ADD COLUMN nm_lastmod INTEGER;     -- notmuch revision read up to
   ALTER TABLE projects ADD COLUMN synced_at TEXT;`,
  // Beyond states: CI checks, delegation, series, the archived flag's baseline.
  `ALTER TABLE patches ADD COLUMN check_state TEXT;        -- combined check: pending|success|warning|fail
   ALTER TABLE patches ADD COLUMN delegate TEXT;           -- username
   ALTER TABLE patches ADD COLUMN submitter TEXT;          -- email
   ALTER TABLE patches ADD COLUMN series_id INTEGER;
   ALTER TABLE patches ADD COLUMN series_name TEXT;
   ALTER TABLE patches ADD COLUMN series_version INTEGER;
   ALTER TABLE patches ADD COLUMN series_part INTEGER;     -- 2 of [PATCH v3 2/7]
   ALTER TABLE patches ADD COLUMN series_total INTEGER;
   ALTER TABLE patches ADD COLUMN archived_base INTEGER;   -- archived flag last agreed; NULL: never tagged
   CREATE INDEX patches_series ON patches (instance, project, series_id);`,
  // Patchwork's diff hash, to find the patch a git commit came from.
  `ALTER TABLE patches ADD COLUMN hash TEXT;
   CREATE INDEX patches_hash ON patches (hash);`,
  // The archive check counts and reads the patches not archived, by date.
  `CREATE INDEX patches_open ON patches (instance, project, date) WHERE archived = 0;
   ALTER TABLE projects ADD COLUMN full_since TEXT;        -- the since bound of the last full listing; '': none`,
  // thanks (server/mail/thanks.ts): which accepted patches were thanked, or set aside as history on first use.
  `CREATE TABLE thanks (instance TEXT NOT NULL, project TEXT NOT NULL, msgid TEXT NOT NULL,
     status TEXT NOT NULL,      -- thanked | history
     commit_sha TEXT, at TEXT NOT NULL,
     PRIMARY KEY (instance, project, msgid));`,
  // rules (server/mail/rules.ts): each reply a rule fired on, so that it never fires twice.
  `CREATE TABLE rule_fired (msgid TEXT NOT NULL, rule TEXT NOT NULL,
     state TEXT NOT NULL, patches INTEGER NOT NULL, at TEXT NOT NULL,
     PRIMARY KEY (msgid, rule));`,
  // Bundles as tags (server/sync/bundles.ts): what the last sync agreed about each bundle.
  // IF NOT EXISTS: earlier versions made this table on first use.
  `CREATE TABLE IF NOT EXISTS bundles (
     instance TEXT NOT NULL, bundle_id INTEGER NOT NULL, project TEXT NOT NULL, name TEXT NOT NULL,
     owner TEXT NOT NULL, tag TEXT NOT NULL,
     remote TEXT NOT NULL,   -- JSON msgids of its patches on Patchwork, last seen
     tagged TEXT NOT NULL,   -- JSON msgids of the messages that carried its tag
     PRIMARY KEY (instance, bundle_id));`,
  // CI results by context (server/store/checks.ts), for the facts line without a request.
  `CREATE TABLE check_contexts (instance TEXT NOT NULL, patch_id INTEGER NOT NULL, owner TEXT NOT NULL, context TEXT NOT NULL,
     check_id INTEGER NOT NULL, state TEXT NOT NULL, target_url TEXT, description TEXT, date TEXT NOT NULL,
     PRIMARY KEY (instance, patch_id, owner, context));`,
  // trailers (server/mail/trailers.ts): notmuch's revision read up to, for the projects it covered.
  `CREATE TABLE trailers_mark (one INTEGER PRIMARY KEY CHECK (one = 1),
     nm_uuid TEXT NOT NULL, nm_lastmod INTEGER NOT NULL,
     projects TEXT NOT NULL);    -- the configured projects, space-separated: another set reads everything again`,
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
  check_state: string | null;
  delegate: string | null;
  submitter: string | null;
  series_id: number | null;
  series_name: string | null;
  series_version: number | null;
  series_part: number | null;
  series_total: number | null;
  archived_base: number | null;
  hash: string | null;
}

export type RemotePatch = Pick<PatchRow, 'msgid' | 'patch_id' | 'remote' | 'archived' | 'date' | 'name' | 'web_url' | 'mbox'>
  & Partial<Pick<PatchRow, 'check_state' | 'delegate' | 'submitter' | 'series_id' | 'series_name' | 'series_version' | 'series_part' | 'series_total' | 'hash'>>;

/** A patch not archived on the server as far as we know: what the archive check compares. */
export interface OpenPatch { patch_id: number; msgid: string; date: string }

export type PendingKind = 'push' | 'conflict' | 'ambiguous' | 'refused' | 'bundle';

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
  event_mark: string | null;
  event_ids: string | null;
  has_events: number | null;
  nm_uuid: string | null;
  nm_lastmod: number | null;
  synced_at: string | null;
  full_since: string | null;
}

/** Where a project's last sync left off; written when the sync completes. */
export type SyncMark = Pick<ProjectRow, 'event_mark' | 'event_ids' | 'has_events' | 'nm_uuid' | 'nm_lastmod' | 'synced_at'> & { full_sync_at?: string; full_since?: string | null };

/** The meta and projects tables. */
function projectStatements(db: SqliteDatabase) {
  return {
    getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
    setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    getProject: db.prepare<[string, string], ProjectRow>('SELECT * FROM projects WHERE instance = ? AND link_name = ?'),
    putProject: db.prepare(`INSERT INTO projects (instance, link_name, project_id, list_email, api_version)
      VALUES (@instance, @link_name, @project_id, @list_email, @api_version)
      ON CONFLICT (instance, link_name) DO UPDATE SET project_id = excluded.project_id,
        list_email = excluded.list_email, api_version = excluded.api_version`),
    setMark: db.prepare(`UPDATE projects SET event_mark = @event_mark, event_ids = @event_ids, has_events = @has_events,
      nm_uuid = @nm_uuid, nm_lastmod = @nm_lastmod, synced_at = @synced_at, full_sync_at = coalesce(@full_sync_at, full_sync_at),
      full_since = coalesce(@full_since, full_since)
      WHERE instance = @instance AND link_name = @link_name`),
  };
}

/** The patches table. */
/** A project's non-archived patches mailed in [since, before): the archive check lists, counts and splits the same set. */
const OPEN_IN_RANGE = 'FROM patches WHERE instance = ? AND project = ? AND archived = 0 AND date >= ? AND date < ?';

function patchStatements(db: SqliteDatabase) {
  return {
    getPatch: db.prepare<[string, string, string], PatchRow>('SELECT * FROM patches WHERE instance = ? AND project = ? AND msgid = ?'),
    getPatchId: db.prepare<[string, string, string], number>('SELECT patch_id FROM patches WHERE instance = ? AND project = ? AND msgid = ?').pluck(),
    patchesByMsgid: db.prepare<[string], PatchRow>('SELECT * FROM patches WHERE msgid = ?'),
    upsertPatch: db.prepare(`INSERT INTO patches (instance, project, msgid, patch_id, remote, archived, date, name, web_url, mbox,
        check_state, delegate, submitter, series_id, series_name, series_version, series_part, series_total, hash)
      VALUES (@instance, @project, @msgid, @patch_id, @remote, @archived, @date, @name, @web_url, @mbox,
        @check_state, @delegate, @submitter, @series_id, @series_name, @series_version, @series_part, @series_total, @hash)
      ON CONFLICT (instance, project, msgid) DO UPDATE SET patch_id = excluded.patch_id, remote = excluded.remote,
        archived = excluded.archived, date = excluded.date, name = excluded.name, web_url = excluded.web_url, mbox = excluded.mbox,
        check_state = excluded.check_state, delegate = excluded.delegate, submitter = excluded.submitter,
        series_id = excluded.series_id, series_name = excluded.series_name, series_version = excluded.series_version,
        series_part = excluded.series_part, series_total = excluded.series_total, hash = excluded.hash`),
    byHash: db.prepare<[string], PatchRow>('SELECT * FROM patches WHERE hash = ?'),
    setDelegate: db.prepare('UPDATE patches SET delegate = ? WHERE instance = ? AND project = ? AND patch_id = ?'),
    setArchived: db.prepare('UPDATE patches SET archived = ?, archived_base = ? WHERE instance = ? AND project = ? AND msgid = ?'),
    commitArchived: db.prepare('UPDATE patches SET archived_base = ? WHERE instance = ? AND project = ? AND msgid = ?'),
    openPatches: db.prepare<[string, string, string, string], OpenPatch>(`SELECT patch_id, msgid, date ${OPEN_IN_RANGE} ORDER BY date, patch_id`),
    countOpen: db.prepare<[string, string, string, string], { n: number }>(`SELECT count(*) AS n ${OPEN_IN_RANGE}`),
    openDateAt: db.prepare<[string, string, string, string, number], { date: string }>(`SELECT date ${OPEN_IN_RANGE} ORDER BY date, patch_id LIMIT 1 OFFSET ?`),
    deletePatch: db.prepare('DELETE FROM patches WHERE instance = ? AND project = ? AND msgid = ?'),
    deletePending: db.prepare('DELETE FROM pending WHERE instance = ? AND project = ? AND msgid = ?'),
    seriesRows: db.prepare<[string, string, number], PatchRow>('SELECT * FROM patches WHERE instance = ? AND project = ? AND series_id = ? ORDER BY series_part, patch_id'),
    olderSeries: db.prepare<[string, string, string, number], PatchRow>(`SELECT * FROM patches WHERE instance = ? AND project = ? AND submitter = ?
      AND series_version < ? AND series_id IS NOT NULL`),
    hasSeries: db.prepare<[string, string, number], { n: number }>('SELECT count(*) AS n FROM patches WHERE instance = ? AND project = ? AND series_id = ?'),
    upsertState: db.prepare(`INSERT INTO patches (instance, project, msgid, patch_id, remote, date, name, web_url, mbox)
      VALUES (@instance, @project, @msgid, @patch_id, @remote, @date, @name, @web_url, @mbox)
      ON CONFLICT (instance, project, msgid) DO UPDATE SET patch_id = excluded.patch_id, remote = excluded.remote`),
    setRemote: db.prepare('UPDATE patches SET remote = ? WHERE instance = ? AND project = ? AND msgid = ?'),
    setJournal: db.prepare('UPDATE patches SET journal = ? WHERE instance = ? AND project = ? AND msgid = ?'),
    commitBaseline: db.prepare('UPDATE patches SET baseline = ?, journal = NULL WHERE instance = ? AND project = ? AND msgid = ?'),
    untagged: db.prepare<[string, string], { n: number }>('SELECT count(*) AS n FROM patches WHERE instance = ? AND project = ? AND baseline IS NULL'),
    untaggedRows: db.prepare<[string, string], PatchRow>('SELECT * FROM patches WHERE instance = ? AND project = ? AND baseline IS NULL ORDER BY date, patch_id'),
  };
}

/** The pending and states tables. */
function pendingStatements(db: SqliteDatabase) {
  return {
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

export class Store {
  readonly db: SqliteDatabase;
  private readonly stmt;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, { timeout: 10_000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.migrate();
    const db = this.db;
    this.stmt = { ...projectStatements(db), ...patchStatements(db), ...pendingStatements(db) };
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

  putProject(row: Pick<ProjectRow, 'instance' | 'link_name' | 'project_id' | 'list_email' | 'api_version'>): void {
    this.stmt.putProject.run({ instance: row.instance, link_name: row.link_name, project_id: row.project_id, list_email: row.list_email, api_version: row.api_version });
  }

  setMark(instance: string, linkName: string, mark: SyncMark): void {
    this.stmt.setMark.run({ full_sync_at: null, full_since: null, ...mark, instance, link_name: linkName });
  }

  patch(instance: string, project: string, msgid: string): PatchRow | undefined {
    return this.stmt.getPatch.get(instance, project, msgid);
  }

  /** Only the patch id of a message: cheap enough to ask for every message of a mailbox. */
  patchId(instance: string, project: string, msgid: string): number | undefined {
    return this.stmt.getPatchId.get(instance, project, msgid);
  }

  /** Every project's row for a message-id (a patch sent to several lists). */
  patchesByMsgid(msgid: string): PatchRow[] {
    return this.stmt.patchesByMsgid.all(msgid);
  }

  upsertPatches(instance: string, project: string, patches: readonly RemotePatch[]): void {
    this.transaction(() => {
      for (const p of patches) {
        this.stmt.upsertPatch.run({ instance, project, check_state: null, delegate: null, submitter: null, series_id: null, series_name: null, series_version: null, series_part: null, series_total: null, hash: null, ...p });
        this.stmt.addState.run(instance, project, p.remote);
      }
    });
  }

  /** A state learned from an event: other fields stay as they are. */
  upsertStates(instance: string, project: string, patches: readonly Omit<RemotePatch, 'archived'>[]): void {
    this.transaction(() => {
      for (const p of patches) {
        this.stmt.upsertState.run({ instance, project, ...p });
        this.stmt.addState.run(instance, project, p.remote);
      }
    });
  }

  setDelegate(instance: string, project: string, patchId: number, username: string | null): void {
    this.stmt.setDelegate.run(username, instance, project, patchId);
  }

  /** The archived flag as Patchwork confirmed it after our push: both sides agree. */
  setArchived(instance: string, project: string, msgid: string, archived: boolean): void {
    this.stmt.setArchived.run(archived ? 1 : 0, archived ? 1 : 0, instance, project, msgid);
  }

  commitArchived(instance: string, project: string, msgid: string, archived: boolean): void {
    this.stmt.commitArchived.run(archived ? 1 : 0, instance, project, msgid);
  }

  /** Patches stored as not archived, mailed in [since, before), oldest first. */
  openPatches(instance: string, project: string, since = '', before = '\uffff'): OpenPatch[] {
    return this.stmt.openPatches.all(instance, project, since, before);
  }

  /** How many of them there are, without reading them (a long history has hundreds of thousands). */
  countOpen(instance: string, project: string, since = '', before = '\uffff'): number {
    return this.stmt.countOpen.get(instance, project, since, before)!.n;
  }

  /** The mail date of the `index`-th of them, oldest first; undefined past the last. */
  openDateAt(instance: string, project: string, index: number, since = '', before = '\uffff'): string | undefined {
    return this.stmt.openDateAt.get(instance, project, since, before, index)?.date;
  }

  /** Forget a patch Patchwork no longer has, with its pending entries. */
  deletePatch(instance: string, project: string, msgid: string): void {
    this.transaction(() => {
      this.stmt.deletePatch.run(instance, project, msgid);
      this.stmt.deletePending.run(instance, project, msgid);
    });
  }

  patchesByHash(hash: string): PatchRow[] {
    return this.stmt.byHash.all(hash);
  }

  seriesPatches(instance: string, project: string, seriesId: number): PatchRow[] {
    return this.stmt.seriesRows.all(instance, project, seriesId);
  }

  /** Message-ids of the patches in `states` delegated to someone other than `me` (to anyone, when `me` is not known). */
  delegatedElsewhere(instance: string, project: string, me: string | undefined, states: readonly string[]): string[] {
    const inList = states.map(() => '?').join(', ');
    return this.db.prepare<unknown[], { msgid: string }>(`SELECT msgid FROM patches WHERE instance = ? AND project = ? AND delegate IS NOT NULL
      AND delegate != ? AND (remote IN (${inList}) OR baseline IN (${inList}))`).all(instance, project, me ?? '', ...states, ...states).map((r) => r.msgid);
  }

  /** Patches of the same submitter in series of a lower version (candidates for superseding). */
  olderSeriesPatches(instance: string, project: string, submitter: string, version: number): PatchRow[] {
    return this.stmt.olderSeries.all(instance, project, submitter, version);
  }

  knowsSeries(instance: string, project: string, seriesId: number): boolean {
    return (this.stmt.hasSeries.get(instance, project, seriesId)?.n ?? 0) > 0;
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

  /** The patches never tagged in notmuch (their mail was not there at a sync), oldest first. */
  untaggedPatches(instance: string, project: string): PatchRow[] {
    return this.stmt.untaggedRows.all(instance, project);
  }

  untaggedCount(instance: string, project: string): number {
    return this.stmt.untagged.get(instance, project)?.n ?? 0;
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

  /** Patchwork's ten default states, then every other slug seen for the project. */
  knownStates(instance: string, project: string): string[] {
    return [...new Set([...DEFAULT_STATES, ...this.stmt.states.all(instance, project).map((r) => r.slug)])];
  }
}
