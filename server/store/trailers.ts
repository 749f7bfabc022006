import type { Store } from './store.js';

// What trailer tagging remembers: notmuch's revision it has read up to, and
// for which projects (a project added later needs a whole pass).

export interface TrailersMark { uuid: string; lastmod: number; projects: string }

export function trailersMark(store: Store): TrailersMark | undefined {
  const row = store.db.prepare<[], { nm_uuid: string; nm_lastmod: number; projects: string }>('SELECT nm_uuid, nm_lastmod, projects FROM trailers_mark').get();
  return row ? { uuid: row.nm_uuid, lastmod: row.nm_lastmod, projects: row.projects } : undefined;
}

export function setTrailersMark(store: Store, mark: TrailersMark): void {
  store.db.prepare('INSERT OR REPLACE INTO trailers_mark (one, nm_uuid, nm_lastmod, projects) VALUES (1, ?, ?, ?)').run(mark.uuid, mark.lastmod, mark.projects);
}
