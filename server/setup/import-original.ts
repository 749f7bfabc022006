import Database from '../store/sqlite.js';
import { existsSync } from 'node:fs';
import { PwnmError } from '../errors.js';
import { notmuchMessageId } from '../mail/message-id.js';
import { slugify } from '../tags.js';
import type { Session } from '../session.js';

// `pwnm-sync import-original [~/.pwnm-sync.db]`: take the original tool's
// last-seen Patchwork states as our baseline, so that a state tag the user
// changed since it last ran is pushed on our first sync, not overwritten.
// The original's database is opened read-only and never written.

export interface ImportResult {
  file: string;
  imported: number;
  /** Rows of projects that are not in our config. */
  skipped: number;
  /** Local changes the original had not pushed (need_sync), now waiting for our first sync. */
  pending: number;
  projects: string[];
}

interface PwRow { msgid: string; project: string; need_sync: number; patchid: number; state: string }

export function importOriginal(session: Session, file: string): ImportResult {
  if (!existsSync(file)) throw new PwnmError('CONFIG', `${file}: no such file; give the original pwnm-sync database (its syncdb, default ~/.pwnm-sync.db)`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const tables = new Set(db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => r.name));
    if (!tables.has('pw_patch_status')) {
      throw new PwnmError('CONFIG', `${file} is not an original pwnm-sync database (no pw_patch_status table)`);
    }
    const rows = db.prepare<[], PwRow>('SELECT msgid, project, need_sync, patchid, state FROM pw_patch_status').all();
    const nmNeedSync = tables.has('nm_patch_status')
      ? new Set(db.prepare<[], { msgid: string; project: string }>('SELECT msgid, project FROM nm_patch_status WHERE need_sync = 1').all().map((r) => `${r.project} ${r.msgid}`))
      : new Set<string>();
    const owner = new Map(session.config.instances.flatMap((inst) => inst.projects.map((p) => [p.linkName, inst.name] as const)));
    const result: ImportResult = { file, imported: 0, skipped: 0, pending: 0, projects: [] };
    const store = session.store;
    store.transaction(() => {
      for (const row of rows) {
        const instance = owner.get(row.project);
        if (!instance || !row.state || !row.msgid) {
          result.skipped++;
          continue;
        }
        const msgid = notmuchMessageId(row.msgid);
        const state = slugify(row.state);
        // Only where we know nothing yet: our own later syncs win over the import.
        if (store.patch(instance, row.project, msgid)) continue;
        store.upsertPatches(instance, row.project, [{ msgid, patch_id: row.patchid, remote: state, archived: 0, date: null, name: null, web_url: null, mbox: null }]);
        store.commitBaseline(instance, row.project, msgid, state);
        result.imported++;
        if (nmNeedSync.has(`${row.project} ${row.msgid}`)) result.pending++;
        if (!result.projects.includes(row.project)) result.projects.push(row.project);
      }
    });
    return result;
  } finally {
    db.close();
  }
}
