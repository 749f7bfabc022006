import type { Statement } from 'better-sqlite3';
import type { TagSets } from '../notmuch/tag-sets.js';
import type { Store } from './store.js';

// The tags of the messages a sync has read, by message-id. A first sync of
// a long history reads every message of the list (1.4 million for a million
// patches): past `spillAfter` entries they move into a TEMP table on the
// state database's connection, which SQLite keeps in a file and pages in as
// asked. Small and incremental syncs never get there and stay on a Map.

/** Entries kept in memory before they move to SQLite: about 10 MB. */
export const SPILL_AFTER = 50_000;

/** Message-ids per chunk of `chunks()`. */
const CHUNK = 1000;

let tables = 0;

interface Spilled {
  table: string;
  get: Statement<[string], { tags: string }>;
  put: Statement<[string, string]>;
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
    return this.spilled.count.get()!.n;
  }

  get(msgid: string): string[] | undefined {
    const tags = this.recent.get(msgid);
    if (tags || !this.spilled) return tags;
    const row = this.spilled.get.get(msgid);
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
    this.spilled?.del.run(msgid);
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
      const ids = this.spilled.after.all(last, size).map((r) => r.msgid);
      if (ids.length === 0) return;
      yield ids;
      last = ids.at(-1)!;
    }
  }

  /** Drop the table, if there is one; call once the sync is done with the tags. */
  close(): void {
    this.recent.clear();
    if (this.spilled) this.store.db.exec(`DROP TABLE IF EXISTS temp.${this.spilled.table}`);
    this.spilled = undefined;
  }

  /** Move the in-memory entries into the table (made on the first call), in one transaction. */
  private flush(): void {
    const spilled = (this.spilled ??= this.createTable());
    this.store.transaction(() => {
      for (const [msgid, tags] of this.recent) spilled.put.run(msgid, JSON.stringify(tags));
    });
    this.recent.clear();
  }

  private createTable(): Spilled {
    const { db } = this.store;
    const table = `message_tags_${++tables}`;
    db.exec(`CREATE TEMP TABLE ${table} (msgid TEXT PRIMARY KEY, tags TEXT NOT NULL) WITHOUT ROWID`);
    return {
      table,
      get: db.prepare(`SELECT tags FROM temp.${table} WHERE msgid = ?`),
      put: db.prepare(`INSERT OR REPLACE INTO temp.${table} (msgid, tags) VALUES (?, ?)`),
      del: db.prepare(`DELETE FROM temp.${table} WHERE msgid = ?`),
      count: db.prepare(`SELECT count(*) AS n FROM temp.${table}`),
      after: db.prepare(`SELECT msgid FROM temp.${table} WHERE msgid > ? ORDER BY msgid LIMIT ?`),
    };
  }
}
