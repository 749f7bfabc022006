import { PwnmError } from '../errors.js';
import { notmuchMessageId } from '../mail/message-id.js';
import { idQuery } from '../notmuch/encoding.js';
import { markEvents, readEvents, type EventMark } from '../patchwork/events.js';
import { LIST_API_VERSION, PER_PAGE } from '../patchwork/client.js';
import type { PwCheck, PwEvent, PwPatch } from '../patchwork/types.js';
import { recordChecks, type StoredCheck } from '../store/checks.js';
import type { ProjectRow, RemotePatch, SyncMark } from '../store/store.js';
import { mapLimit, naiveUtc } from '../util.js';
import { decide, resolveUnseen, storeAndPlan } from './apply.js';
import { checkArchived } from './archive-check.js';
import { checkCancel, type ProjectRun } from './run.js';
import type { RemoteMode } from './types.js';

// Read both sides of one project and feed what arrives to the planner:
//   full:   every patch since the oldest mail of the list (first sync, --full, full_every);
//   events: Patchwork's event log since the last sync (every other sync);
//   window: patches mailed since the last sync (servers without events);
//   both then check the non-archived set for archive flips and deletions.
// The local side is one dump of the project's mail (full) or of what
// changed since notmuch's last revision (lastmod). Pages are stored and
// planned as they arrive; tags go out in batches while fetching goes on.

/** A window sync re-reads this far back, for mail that took a while to arrive. */
const WINDOW_MARGIN_MS = 2 * 86_400_000;
const DAY_MS = 86_400_000;
/** Up to this many patches to re-read after events are fetched one by one; more, as one list. */
const REFETCH_ONE_BY_ONE = 8;
/**
 * Listed patches whose mail the list's query did not find are looked up by
 * message-id once this many wait, while the listing goes on: a history
 * older than the mailbox has hundreds of thousands of them.
 */
export const UNSEEN_AT_ONCE = 5000;

/** The client and the project's row; the API version and project id come from the store when known. */
export async function connect(run: ProjectRun, cachedOnly = false): Promise<ProjectRow | undefined> {
  const { store } = run.session;
  const client = (run.client = await run.session.client(run.inst));
  run.requestsBefore = client.requests;
  const row = store.project(run.inst.name, run.project);
  if (cachedOnly && !row) return undefined;
  if (row?.api_version && !run.options.full) {
    client.apiVersion ??= row.api_version;
    return row;
  }
  const version = await client.discover();
  const found = await client.project(run.project);
  const fresh = { instance: run.inst.name, link_name: run.project, project_id: found.id, list_email: found.list_email || null, api_version: version };
  if (!run.dryRun) store.putProject(fresh);
  return store.project(run.inst.name, run.project) ?? { ...fresh, full_sync_at: null, event_mark: null, event_ids: null, has_events: null, nm_uuid: null, nm_lastmod: null, synced_at: null, full_since: null };
}

function chooseMode(run: ProjectRun, row: ProjectRow | undefined): RemoteMode {
  if (run.options.localOnly || run.options.messageIds) return 'none';
  if (run.options.full || !row?.synced_at) return 'full';
  const fullEvery = run.session.config.fullEvery;
  if (fullEvery > 0 && (!row.full_sync_at || Date.now() - Date.parse(row.full_sync_at) > fullEvery * DAY_MS)) return 'full';
  return row.has_events === 0 ? 'window' : 'events';
}

/** The notmuch query for the project's mail: its tag, or its list's address. */
function listQuery(run: ProjectRun, row: ProjectRow | undefined): string | undefined {
  const list = run.configuredList ?? row?.list_email ?? undefined;
  return list ? `to:"${list.replace(/"/g, '""')}"` : undefined;
}

/** Reads the local side into `run.local`. */
async function readLocal(run: ProjectRun, row: ProjectRow | undefined, mode: RemoteMode): Promise<void> {
  const { session, summary } = run;
  const revision = run.changes.revision;
  const lastmodUsable = row?.nm_uuid === revision.uuid && row.nm_lastmod !== null && mode !== 'full';
  summary.local = lastmodUsable ? 'lastmod' : 'full';
  if (row?.nm_uuid && row.nm_uuid !== revision.uuid) summary.notes.push('the notmuch database was rebuilt (new UUID); read all its patch mail again');
  if (run.options.messageIds) {
    const ids = run.options.messageIds.map(notmuchMessageId);
    if (ids.length) await session.notmuch.dump(ids.map(idQuery).join(' or '), run.tagSets, run.local);
    return;
  }
  const query = listQuery(run, row);
  const projectTag = session.scheme.project(run.project);
  if (lastmodUsable) {
    for (const [msgid, tags] of await run.changes.since(row.nm_lastmod!)) run.local.set(msgid, tags);
  } else {
    await session.notmuch.dump(query ? `tag:${projectTag} or ${query}` : `tag:${projectTag}`, run.tagSets, run.local);
  }
}

/** Reads both sides and plans what arrives; returns the mark to store when all went through. */
export async function readBothSides(run: ProjectRun, row: ProjectRow | undefined): Promise<SyncMark | undefined> {
  const mode = (run.summary.mode = chooseMode(run, row));
  if (mode === 'full') run.writer.bulk();
  // The local side is read while the remote one is: the first planning step awaits it.
  run.localRead = readLocal(run, row, mode);
  // Nothing may await it if the remote side fails first: that must not be an unhandled rejection.
  run.localRead.catch(() => undefined);
  const mark = await readRemote(run, row, mode);
  await run.localRead;
  return mark;
}

function readRemote(run: ProjectRun, row: ProjectRow | undefined, mode: RemoteMode): Promise<SyncMark | undefined> | SyncMark | undefined {
  if (run.options.messageIds) return undefined;
  if (mode === 'none') return row ? markFor(run, { date: row.event_mark, ids: JSON.parse(row.event_ids ?? '[]') as number[] }, row.has_events) : undefined;
  if (mode === 'events') return eventsSync(run, row!);
  if (mode === 'window') return windowSync(run, row!);
  return fullSync(run, row!);
}

async function eventsSync(run: ProjectRun, row: ProjectRow): Promise<SyncMark> {
  const mark: EventMark = { date: row.event_mark, ids: JSON.parse(row.event_ids ?? '[]') as number[] };
  let read;
  try {
    read = await readEvents(run.client!, row.project_id, mark);
  } catch (err) {
    if (!(err instanceof PwnmError && err.code === 'NOT_FOUND')) throw err;
    run.summary.notes.push(`${run.inst.name} has no events API: state changes of patches mailed before the last sync are seen only by --full`);
    return windowSync(run, row);
  }
  run.summary.eventsRead = read.read;
  await applyEvents(run, read.events);
  await archiveCheck(run, row);
  return markFor(run, read.next, 1);
}

async function fullSync(run: ProjectRun, row: ProjectRow): Promise<SyncMark> {
  // The event mark is taken before listing, so that what changes while we list is seen next time.
  const [{ mark, hasEvents }, since] = await Promise.all([eventMark(run, row), fullSince(run, row), run.localRead]);
  // Planning waits for the local side anyway; with it read, a list of many pages starts two pages at once.
  await listPatches(run, row.project_id, since, run.local.size >= 2 * PER_PAGE ? 2 : 1);
  return { ...markFor(run, mark, hasEvents), full_sync_at: new Date().toISOString(), full_since: since ?? '' };
}

async function eventMark(run: ProjectRun, row: ProjectRow): Promise<{ mark: EventMark; hasEvents: number }> {
  try {
    return { mark: await markEvents(run.client!, row.project_id), hasEvents: 1 };
  } catch (err) {
    if (!(err instanceof PwnmError && err.code === 'NOT_FOUND')) throw err;
    return { mark: { date: null, ids: [] }, hasEvents: 0 };
  }
}

/** Only patches whose mail can be here: since the epoch, else the oldest mail of the list (a day earlier, for time zones). */
async function fullSince(run: ProjectRun, row: ProjectRow): Promise<string | undefined> {
  const epoch = run.options.epoch ?? run.inst.epoch;
  if (epoch) return `${epoch}T00:00:00`;
  const query = listQuery(run, row);
  if (!query) return undefined;
  const oldest = await run.session.notmuch.oldest(`${query} or tag:${run.session.scheme.project(run.project)}`);
  return oldest ? naiveUtc(new Date(oldest.getTime() - DAY_MS)) : undefined;
}

async function windowSync(run: ProjectRun, row: ProjectRow): Promise<SyncMark> {
  run.summary.mode = 'window';
  const last = row.synced_at ? Date.parse(row.synced_at) : Date.now();
  await listPatches(run, row.project_id, naiveUtc(new Date(last - WINDOW_MARGIN_MS)));
  await archiveCheck(run, row);
  return markFor(run, { date: null, ids: [] }, 0);
}

/** Archive flips and deletions have no event: compare the non-archived sets (archive-check.ts). */
async function archiveCheck(run: ProjectRun, row: ProjectRow): Promise<void> {
  // The bound the store's listing used (a store from before it was kept: worked out again).
  const since = row.full_since === null ? await fullSince(run, row) : row.full_since || undefined;
  await run.localRead;
  await checkArchived(run, row.project_id, since);
}

function markFor(run: ProjectRun, mark: EventMark, hasEvents: number | null): SyncMark {
  const { revision } = run.changes;
  return {
    event_mark: mark.date, event_ids: JSON.stringify(mark.ids), has_events: hasEvents,
    nm_uuid: revision.uuid, nm_lastmod: revision.lastmod, synced_at: new Date().toISOString(),
  };
}

/** Stream the project's patch list through the planner, page by page. */
async function listPatches(run: ProjectRun, projectId: number, since: string | undefined, firstPages = 1): Promise<void> {
  run.summary.since = since ?? null;
  let pages = 0;
  // Not an async function: a page's items are let go once planned, not held while waiting for room.
  await run.client!.eachPage<PwPatch>('patches', { project: projectId, since, order: 'id' }, (items) => run.localRead.then(() => {
    checkCancel(run.options.signal);
    storeAndPlan(run, items);
    run.progress('fetch', ++pages, 0, `${run.project}: ${run.summary.fetched} patches read`);
  }).then(() => (run.unseen.length >= UNSEEN_AT_ONCE ? resolveUnseen(run) : undefined)).then(() => run.writer.room()), { firstPages, version: LIST_API_VERSION });
}

/** What a batch of events says: new states, new delegates, and patches to read whole. */
interface EventFacts {
  states: Map<number, Omit<RemotePatch, 'archived'>>;
  delegates: Map<number, { msgid: string; username: string | null }>;
  /** Patch id to its mail date. */
  refetch: Map<number, string>;
  /** New CI results, by patch id. */
  checks: Map<number, StoredCheck[]>;
}

/** A check-created event's check, as the state database keeps it; undefined when the event lacks it. */
function eventCheck(e: PwEvent): StoredCheck | undefined {
  const c = e.payload.check as Partial<PwCheck> | undefined;
  if (!c || typeof c.id !== 'number' || typeof c.context !== 'string' || typeof c.state !== 'string') return undefined;
  return { id: c.id, owner: e.actor?.username ?? '', context: c.context, state: c.state, targetUrl: c.target_url ?? null, description: c.description ?? null, date: c.date ?? e.date };
}

function readFacts(events: readonly PwEvent[]): EventFacts {
  const facts: EventFacts = { states: new Map(), delegates: new Map(), refetch: new Map(), checks: new Map() };
  for (const e of events) {
    const patch = e.payload.patch;
    if (!patch) continue;
    if (e.category === 'patch-created' || e.category === 'check-created') facts.refetch.set(patch.id, patch.date ?? '');
    const check = e.category === 'check-created' ? eventCheck(e) : undefined;
    if (check) facts.checks.set(patch.id, [...(facts.checks.get(patch.id) ?? []), check]);
    if (e.category === 'patch-state-changed' && e.payload.current_state) {
      facts.states.set(patch.id, { msgid: notmuchMessageId(patch.msgid), patch_id: patch.id, remote: e.payload.current_state, date: patch.date ?? null, name: patch.name ?? null, web_url: patch.web_url ?? null, mbox: null });
    }
    if (e.category === 'patch-delegated') facts.delegates.set(patch.id, { msgid: notmuchMessageId(patch.msgid), username: e.payload.current_delegate?.username ?? null });
  }
  return facts;
}

/**
 * Apply events: states from state changes, delegates from delegations,
 * and the whole patch where the events cannot tell (new patches' state,
 * series and checks; a new check's effect on the combined check).
 */
async function applyEvents(run: ProjectRun, events: readonly PwEvent[]): Promise<void> {
  const { store } = run.session;
  const { states, delegates, refetch, checks } = readFacts(events);
  await run.localRead;
  const rows = [...states.values()];
  run.inTransaction(() => {
    if (!run.dryRun) store.upsertStates(run.inst.name, run.project, rows);
    for (const [id, c] of checks) if (!run.dryRun) recordChecks(store, run.inst.name, id, c);
    for (const [id, d] of delegates) if (!run.dryRun) store.setDelegate(run.inst.name, run.project, id, d.username);
    for (const r of rows) if (!refetch.has(r.patch_id)) decide(run, { msgid: r.msgid, patchId: r.patch_id, remote: r.remote });
    for (const [id, d] of delegates) {
      const stored = store.patch(run.inst.name, run.project, d.msgid);
      if (stored && !states.has(id) && !refetch.has(id)) decide(run, { msgid: d.msgid, patchId: id, remote: stored.remote });
    }
  });
  if (refetch.size > 0) await refetchPatches(run, refetch);
}

/** Few: one GET each; many: one paged list from the oldest one's mail date. */
async function refetchPatches(run: ProjectRun, refetch: Map<number, string>): Promise<void> {
  const projectId = run.session.store.project(run.inst.name, run.project)?.project_id;
  const ids = [...refetch.keys()];
  if (ids.length <= REFETCH_ONE_BY_ONE || projectId === undefined) {
    const patches = await mapLimit(ids, run.session.config.concurrency, (id) => run.client!.get<PwPatch>(`patches/${id}`).catch((err: unknown) => {
      if (err instanceof PwnmError && err.code === 'NOT_FOUND') return undefined; // deleted since
      throw err;
    }));
    await run.localRead;
    storeAndPlan(run, patches.filter((p): p is PwPatch => p !== undefined));
  } else {
    const oldest = [...refetch.values()].filter(Boolean).sort()[0];
    await listPatches(run, projectId, oldest ? naiveUtc(new Date(Date.parse(`${oldest.slice(0, 19)}Z`) - 60_000)) : undefined);
  }
}
