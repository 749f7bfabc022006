import { PwnmError } from '../errors.js';
import { idQuery } from '../notmuch/encoding.js';
import { LIST_API_VERSION, PER_PAGE } from '../patchwork/client.js';
import type { PwPatch } from '../patchwork/types.js';
import type { OpenPatch } from '../store/store.js';
import { mapLimit } from '../util.js';
import { storeAndPlan } from './apply.js';
import { checkCancel, type ProjectRun } from './run.js';

// Patchwork makes no event when a patch is archived, unarchived or deleted.
// Instead of listing the whole project again, every incremental sync
// compares the number of patches not archived on the server (a per_page=1
// page: its Link `last` is the count) with the store's, over the same
// `since` bound as the full sync. Equal: done, one request. Different: the
// date range is halved (split at the store's median date, one count for the
// left half, the right one follows) until a range holds at most a page;
// that page is read and compared by id. Patches missing from it are asked
// for one by one: archived (now in the store and tagged so) or deleted (a
// 404: forgotten, and their patch tags removed). The cost is proportional
// to the flips, never to the project. The store's side is counted and split
// in SQL, and read only for a range that is read from the server, so a sync
// with nothing changed holds no list of the project's patches. Two flips
// that cancel out in one range (one archived, one unarchived) are not seen;
// `sync --full` sees them.

export interface ArchiveCheck { flipped: number; deleted: number }

/** Compare the non-archived sets and apply what differs. */
export async function checkArchived(run: ProjectRun, projectId: number, since: string | undefined): Promise<ArchiveCheck> {
  const result: ArchiveCheck = { flipped: 0, deleted: 0 };
  const server = await countOpen(run, projectId, since, undefined);
  const local = storedOpen(run, since, undefined);
  if (server !== local) await reconcile(run, projectId, { since, before: undefined, server, local }, result);
  if (result.flipped || result.deleted) run.summary.notes.push(`archive check: ${result.flipped} archived or unarchived, ${result.deleted} deleted on the server`);
  return result;
}

interface Range {
  since: string | undefined;
  before: string | undefined;
  /** Non-archived patches the server has in the range. */
  server: number;
  /** The store's. */
  local: number;
}

/** The store's non-archived patches in [since, before). */
const storedOpen = (run: ProjectRun, since: string | undefined, before: string | undefined): number =>
  run.session.store.countOpen(run.inst.name, run.project, since, before);

async function reconcile(run: ProjectRun, projectId: number, range: Range, result: ArchiveCheck): Promise<void> {
  checkCancel(run.options.signal);
  const { server, local } = range;
  const dateAt = (index: number): string | undefined => run.session.store.openDateAt(run.inst.name, run.project, index, range.since, range.before);
  const mid = local < 2 ? undefined : dateAt(Math.floor(local / 2));
  // Small enough to read, or no date to split at (the store has (almost) none, or they share one date).
  if (server <= PER_PAGE || mid === undefined || mid === dateAt(0)) {
    await readRange(run, projectId, range, result);
    return;
  }
  const left: Range = { since: range.since, before: mid, server: await countOpen(run, projectId, range.since, mid), local: storedOpen(run, range.since, mid) };
  const right: Range = { since: mid, before: range.before, server: server - left.server, local: local - left.local };
  for (const half of [left, right]) if (half.server !== half.local) await reconcile(run, projectId, half, result);
}

/** The number of non-archived patches in [since, before), from one page of one patch. */
async function countOpen(run: ProjectRun, projectId: number, since: string | undefined, before: string | undefined): Promise<number> {
  const page = await run.client!.page<PwPatch>('patches', { project: projectId, since, before, archived: 'false', per_page: 1 });
  // An empty list still has one (empty) page.
  return page.items.length === 0 ? 0 : page.last;
}

/** Read the range's non-archived patches and apply what differs from the store. */
async function readRange(run: ProjectRun, projectId: number, range: Range, result: ArchiveCheck): Promise<void> {
  const stored = run.session.store.openPatches(run.inst.name, run.project, range.since, range.before);
  const known = new Set(stored.map((p) => p.patch_id));
  const listed = new Set<number>();
  await run.client!.eachPage<PwPatch>('patches', { project: projectId, since: range.since, before: range.before, archived: 'false', order: 'id' }, async (items) => {
    for (const p of items) listed.add(p.id);
    // Unarchived on the server, or not known yet: stored and planned like any listed patch.
    const changed = items.filter((p) => !known.has(p.id));
    result.flipped += changed.length;
    await run.localRead;
    storeAndPlan(run, changed);
  }, { version: LIST_API_VERSION });
  const gone = stored.filter((p) => !listed.has(p.patch_id));
  const found = await mapLimit(gone, run.session.config.concurrency, async (p) => {
    try {
      return await run.client!.get<PwPatch>(`patches/${p.patch_id}`);
    } catch (err) {
      if (err instanceof PwnmError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  });
  const archived = found.filter((p): p is PwPatch => p !== undefined);
  result.flipped += archived.length;
  storeAndPlan(run, archived);
  const deleted = gone.filter((_, i) => found[i] === undefined);
  result.deleted += deleted.length;
  await forget(run, deleted);
}

/** Patches deleted on the server: out of the store, and their mail keeps no patch tags of the project. */
async function forget(run: ProjectRun, deleted: readonly OpenPatch[]): Promise<void> {
  if (deleted.length === 0 || run.dryRun) return;
  const { store, scheme, notmuch } = run.session;
  const tags = await notmuch.dump(deleted.map((p) => idQuery(p.msgid)).join(' or '), run.tagSets);
  const patchTag = (t: string): boolean => scheme.stateSuffix(run.project, t) !== undefined || scheme.isDerived(run.project, t) || t === scheme.archived(run.project);
  const changes = [...tags].map(([msgid, list]) => ({ msgid, add: [], remove: list.filter(patchTag) })).filter((c) => c.remove.length > 0);
  if (changes.length) await notmuch.tag(changes);
  run.inTransaction(() => deleted.forEach((p) => store.deletePatch(run.inst.name, run.project, p.msgid)));
  for (const c of changes) run.local.delete(c.msgid);
}
