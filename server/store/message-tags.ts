import type { Statement } from 'better-sqlite3';
import type { TagSets } from '../notmuch/tag-sets.js';
import type { Store } from './store.js';

// The tags of the messages a sync has read, by message-id. A first sync of
// a long history reads every message of the list (1.4 million for a million
// patches): past `spillAfter` entries they move into TEMP tables on the
// state database's connection, which SQLite keeps in a file and pages in as
// asked. Small and incremental syncs never get there and stay on a Map.
// Entries moved out are appended to a log first and merged into the table
// keyed by message-id, in key order, only when one is read: a million
// inserts at random places of the key order cost seconds more.

/** Entries kept in memory before they move to SQLite: about 10 MB. */
export const SPILL_AFTER = 50_000;

/** Message-ids per chunk of `chunks()`. */
const CHUNK = 1000;

let tables = 0;

interface Spilled {
  table: string;
  /** Rows appended since the last merge. */
  logged: number;
  log: Statement<[string, string]>;
  merge: Statement;
  clearLog: Statement;
  get: Statement<[string], { tags: string }>;
  del: Statement<[string]>;
  count: Statement<[], { n: number }>;
  after: Statement<[string, number], { msgid: string }>;
}

export class MessageTags {
  /** The latest entries; all of them until the first spill. */
  private recent = new Map<string, string[]>();
  private spilled: Spilled | undefined;

  /** `shared` interns what comes back from SQLite, as the dump's arrays are. */
  constructor(private readonly store: Store, private readonly shared: TagSets, private readonly spillAfter = SPILL_AFTER) {}

  get size(): number {
    if (!this.spilled) return this.recent.size;
    this.flush();
    return this.merged().count.get()!.n;
  }

  get(msgid: string): string[] | undefined {
    const tags = this.recent.get(msgid);
    if (tags || !this.spilled) return tags;
    const row = this.merged().get.get(msgid);
    return row && this.shared.intern(JSON.parse(row.tags) as string[]);
  }

  has(msgid: string): boolean {
    return this.get(msgid) !== undefined;
  }

  set(msgid: string, tags: string[]): this {
    this.recent.set(msgid, tags);
    if (this.recent.size > this.spillAfter) this.flush();
    return this;
  }

  delete(msgid: string): void {
    this.recent.delete(msgid);
    if (this.spilled) this.merged().del.run(msgid);
  }

  /**
   * Every message-id, a chunk at a time, in no set order. No statement stays
   * open between chunks (better-sqlite3 runs nothing else while one does),
   * so the caller may read and write meanwhile; entries it adds may be seen.
   */
  *chunks(size = CHUNK): Generator<string[]> {
    if (!this.spilled) {
      yield [...this.recent.keys()];
      return;
    }
    this.flush();
    for (let last = ''; ;) {
      const ids = this.merged().after.all(last, size).map((r) => r.msgid);
      if (ids.length === 0) return;
      yield ids;
      last = ids.at(-1)!;
    }
  }

  /** Drop the table, if there is one; call once the sync is done with the tags. */
  close(): void {
    this.recent.clear();
    if (this.spilled) this.store.db.exec(`DROP TABLE IF EXISTS temp.${this.spilled.table}; DROP TABLE IF EXISTS temp.${this.spilled.table}_log`);
    this.spilled = undefined;
  }

  /** Move the in-memory entries to the log (the tables are made on the first call), in one transaction. */
  private flush(): void {
    const spilled = (this.spilled ??= this.createTables());
    this.store.transaction(() => {
      for (const [msgid, tags] of this.recent) spilled.log.run(msgid, JSON.stringify(tags));
    });
    spilled.logged += this.recent.size;
    this.recent.clear();
  }

  /** The tables with the log merged in: in key order, the later of two entries for one message-id winning. */
  private merged(): Spilled {
    const spilled = this.spilled!;
    if (spilled.logged > 0) {
      this.store.transaction(() => {
        spilled.merge.run();
        spilled.clearLog.run();
      });
      spilled.logged = 0;
    }
    return spilled;
  }

  private createTables(): Spilled {
    const { db } = this.store;
    const table = `message_tags_${++tables}`;
    const log = `temp.${table}_log`;
    db.exec(`CREATE TEMP TABLE ${table} (msgid TEXT PRIMARY KEY, tags TEXT NOT NULL) WITHOUT ROWID;
      CREATE TEMP TABLE ${table}_log (msgid TEXT NOT NULL, tags TEXT NOT NULL)`);
    return {
      table,
      logged: 0,
      log: db.prepare(`INSERT INTO ${log} (msgid, tags) VALUES (?, ?)`),
      merge: db.prepare(`INSERT OR REPLACE INTO temp.${table} (msgid, tags) SELECT msgid, tags FROM ${log} ORDER BY msgid, rowid`),
      clearLog: db.prepare(`DELETE FROM ${log}`),
      get: db.prepare(`SELECT tags FROM temp.${table} WHERE msgid = ?`),
      del: db.prepare(`DELETE FROM temp.${table} WHERE msgid = ?`),
      count: db.prepare(`SELECT count(*) AS n FROM temp.${table}`),
      after: db.prepare(`SELECT msgid FROM temp.${table} WHERE msgid > ? ORDER BY msgid LIMIT ?`),
    };
  }
}
