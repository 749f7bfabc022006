import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

// better-sqlite3 in the major this Node can run; every other module opens
// databases through here. 12 derives its statements from node::ObjectWrap,
// whose destructor aborts on Node 24.19+ when an idle GC finalises a
// statement (better-sqlite3 issue 1515, not fixed in 12). 13 is built on
// Node-API 10 (Node 22.14+, 23.6+, 24+) and segfaults on older Nodes. Both are
// installed ("better-sqlite3-13" is an npm alias) and one is chosen here, by
// the Node-API version this Node offers. Their JavaScript APIs are the same
// for what we use, so one set of types (@types/better-sqlite3) covers both.

const require = createRequire(import.meta.url);

/** The package this process loads: 'better-sqlite3-13' on Node-API 10 or later, else 'better-sqlite3' (12). */
export const SQLITE_PACKAGE = Number(process.versions.napi) >= 10 ? 'better-sqlite3-13' : 'better-sqlite3';

const Database = require(SQLITE_PACKAGE) as typeof BetterSqlite3;
export default Database;
export type SqliteDatabase = BetterSqlite3.Database;
