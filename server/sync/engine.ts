import type { InstanceConfig, Prefer } from '../config.js';
import { PwnmError, errorMessage, isTransient } from '../errors.js';
import { idQuery, notmuchMessageId } from '../notmuch/encoding.js';
import type { Revision } from '../notmuch/notmuch.js';
import type { PatchworkClient } from '../patchwork/client.js';
import { newestEvent, readEvents, type EventMark } from '../patchwork/events.js';
import { seriesKey, toRemote } from '../patchwork/remote.js';
import type { PwEvent, PwPatch } from '../patchwork/types.js';
import type { Session } from '../session.js';
import type { PatchRow, ProjectRow, RemotePatch, SyncMark } from '../store/store.js';
import { mapLimit, naiveUtc } from '../util.js';
import { applyChange, derivedTags, readTags, retagChange, suffixMap, type Extras } from './local.js';
import { crashPoint } from './crash.js';
import { SyncLock } from './lock.js';
import { plan, type Action, type Conflict } from './planner.js';
import { TagWriter } from './tag-writer.js';

// One sync. Per project, the remote side is read one of three ways:
//   full:   every patch since the oldest mail of the list (first sync, --full, full_every);
//   events: Patchwork's event log since the last sync (every other sync);
//   window: patches mailed since the last sync (servers without events).
// The local side is one dump of the project's mail (full) or of what
// changed since notmuch's last revision (lastmod). Pages are planned as they
// arrive, tags go out in ~1 s batches while fetching goes on, then pushes.

export interface SyncOptions {
  projects?: readonly string[];
  epoch?: string;
  full?: boolean;
  dryRun?: boolean;
  /** No network: tag arrived mail from the state database, record local changes. */
  localOnly?: boolean;
  /** Only these messages: no fetching, push their local changes now (the Emacs hook). */
  messageIds?: readonly string[];
  prefer?: Prefer;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** Told of every message whose tags or Patchwork state this sync changed or could not change. */
  onMessage?: (event: MessageEvent) => void;
}

export interface MessageEvent {
  msgid: string;
  project: string;
  kind: 'retagged' | 'pushed' | 'queued' | 'refused' | 'ambiguous' | 'conflict';
  state?: string;
  reason?: string;
}

export interface Progress {
  phase: 'fetch' | 'tag' | 'push' | 'done';
  project: string;
  done: number;
  total: number;
  message: string;
}

export interface Report {
  msgid: string;
  patchId?: number;
  local?: string;
  remote?: string;
  reason: string;
}

export type RemoteMode = 'full' | 'events' | 'window' | 'none';

export interface ProjectSummary {
  instance: string;
  project: string;
  mode: RemoteMode;
  local: 'full' | 'lastmod';
  since: string | null;
  fetched: number;
  eventsRead: number;
  retagged: number;
  pushed: number;
  conflicts: Report[];
  ambiguous: Report[];
  refused: Report[];
  queued: Report[];
  missingLocally: number;
  httpRequests: number;
  notmuchCalls: number;
  notes: string[];
  errors: string[];
}

export interface SyncSummary {
  dryRun: boolean;
  durationMs: number;
  projects: ProjectSummary[];
  /** Notmuch process calls in all, including the shared ones. */
  notmuchCalls: number;
  /** True when every change went through (nothing refused, queued or failed). */
  ok: boolean;
}

function checkCancel(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new PwnmError('CANCELLED', 'sync cancelled; what was applied is kept, the rest waits for the next sync');
}

/** Message-ids per notmuch lookup query. */
const ID_BATCH = 500;
/** A window sync re-reads this far back, for mail that took a while to arrive. */
const WINDOW_MARGIN_MS = 2 * 86_400_000;
const DAY_MS = 86_400_000;

/** Messages whose tags changed since `lastmod`, read once and shared by the projects. */
class LocalChanges {
  private cache = new Map<number, Promise<Map<string, string[]>>>();
  constructor(private readonly session: Session, readonly revision: Revision) {}

  since(lastmod: number): Promise<Map<string, string[]>> {
    if (lastmod >= this.revision.lastmod) return Promise.resolve(new Map());
    let read = this.cache.get(lastmod);
    if (!read) {
      read = this.session.notmuch.dump(`lastmod:${lastmod + 1}..`);
      this.cache.set(lastmod, read);
    }
    return read;
  }
}

export async function sync(session: Session, options: SyncOptions = {}): Promise<SyncSummary> {
  const started = performance.now();
  const nmBefore = session.notmuch.calls;
  const selected = session.select(options.projects);
  // A push of a few messages does not wait for a long sync: it claims its
  // messages instead (Session.claim), and the sync leaves them alone.
  const focused = options.messageIds !== undefined;
  const lock = options.dryRun || focused ? undefined : SyncLock.acquire(session.config.stateDb);
  if (!focused) session.syncing++;
  else session.claim(options.messageIds!.map(notmuchMessageId));
  const projects: ProjectSummary[] = [];
  try {
    // The revision is read before anything else: a change made while we
    // sync gets a later one and is seen next time.
    const changes = new LocalChanges(session, await session.notmuch.revision());
    for (const sel of selected) {
      checkCancel(options.signal);
      projects.push(await new ProjectSync(session, sel.instance, sel.project, sel.list, options, changes).run());
    }
  } finally {
    lock?.release();
    if (!focused && --session.syncing === 0) session.claimed.clear();
  }
  const ok = projects.every((p) => p.errors.length === 0 && p.refused.length === 0 && p.queued.length === 0 && p.ambiguous.length === 0);
  return { dryRun: Boolean(options.dryRun), durationMs: Math.round(performance.now() - started), projects, notmuchCalls: session.notmuch.calls - nmBefore, ok };
}

/** A change to send: a new state, a new archived flag, or both. */
interface Push { msgid: string; patchId: number; state?: string; archived?: boolean; remote: string; conflict?: Conflict }

const readOnlyReason = (instance: string): string => `read-only: no token for ${instance}; the change waits until one is configured`;

const describePush = (p: Pick<Push, 'state' | 'archived'>): string => [p.state, p.archived === undefined ? undefined : p.archived ? 'archived' : 'not archived'].filter(Boolean).join(', ');

class ProjectSync {
  private readonly summary: ProjectSummary;
  private readonly dryRun: boolean;
  private readonly prefer: Prefer;
  private readonly writer: TagWriter;
  private client: PatchworkClient | undefined;
  private requestsBefore = 0;
  /** Tags of the messages this run looked at, kept current as we retag. */
  private local = new Map<string, string[]>();
  private readonly handled = new Set<string>();
  private readonly unseen: { msgid: string; patchId: number; remote: string }[] = [];
  private readonly pushes: Push[] = [];
  private suffixes = new Map<string, string>();

  constructor(
    private readonly session: Session,
    private readonly inst: InstanceConfig,
    private readonly project: string,
    private readonly configuredList: string | undefined,
    private readonly options: SyncOptions,
    private readonly changes: LocalChanges,
  ) {
    this.dryRun = Boolean(options.dryRun);
    this.prefer = options.prefer ?? session.config.prefer;
    this.summary = {
      instance: inst.name, project, mode: 'full', local: 'full', since: null, fetched: 0, eventsRead: 0, retagged: 0, pushed: 0,
      conflicts: [], ambiguous: [], refused: [], queued: [], missingLocally: 0, httpRequests: 0, notmuchCalls: 0, notes: [], errors: [],
    };
    this.writer = new TagWriter(session.notmuch, {
      transaction: (fn) => session.store.transaction(fn),
      onBatch: () => this.progress('tag', this.writer.applied, 0, `${project}: tagged ${this.writer.applied} messages`),
      skip: (msgid) => !options.messageIds && session.claimed.has(msgid),
    });
  }

  private progress(phase: Progress['phase'], done: number, total: number, message: string): void {
    this.options.onProgress?.({ phase, project: this.project, done, total, message });
  }

  async run(): Promise<ProjectSummary> {
    const { session, summary } = this;
    const nmBefore = session.notmuch.calls;
    try {
      const row = this.options.localOnly ? session.store.project(this.inst.name, this.project) : await this.connect(Boolean(this.options.messageIds));
      this.suffixes = suffixMap(session.store.knownStates(this.inst.name, this.project));
      const mark = await this.syncRemoteAndLocal(row);
      await this.resolveUnseen();
      await this.planLocalChanges();
      crashPoint('after-fetch');
      checkCancel(this.options.signal);
      await this.runPushes();
      checkCancel(this.options.signal);
      await this.writer.flush();
      if (!this.dryRun && row && mark) session.store.setMark(this.inst.name, this.project, mark);
      this.progress('done', 1, 1, `${this.project}: done`);
    } catch (err) {
      this.writer.stop();
      if (err instanceof PwnmError && (err.code === 'CANCELLED' || err.code === 'SYNC_RUNNING')) throw err;
      if (!(err instanceof PwnmError)) throw err;
      summary.errors.push(err.message);
    } finally {
      summary.httpRequests = this.client ? this.client.requests - this.requestsBefore : 0;
      summary.notmuchCalls = session.notmuch.calls - nmBefore;
    }
    return summary;
  }

  /** The client and the project's row; the API version and project id come from the store when known. */
  private async connect(cachedOnly = false): Promise<ProjectRow | undefined> {
    const { store } = this.session;
    const client = (this.client = await this.session.client(this.inst));
    this.requestsBefore = client.requests;
    let row = store.project(this.inst.name, this.project);
    if (cachedOnly && !row) return undefined;
    if (row?.api_version && !this.options.full) {
      client.apiVersion ??= row.api_version;
      return row;
    }
    const version = await client.discover();
    const found = await client.project(this.project);
    const fresh = { instance: this.inst.name, link_name: this.project, project_id: found.id, list_email: found.list_email || null, api_version: version };
    if (!this.dryRun) store.putProject(fresh);
    row = store.project(this.inst.name, this.project) ?? { ...fresh, full_sync_at: null, event_mark: null, event_ids: null, has_events: null, nm_uuid: null, nm_lastmod: null, synced_at: null };
    return row;
  }

  private chooseMode(row: ProjectRow | undefined): RemoteMode {
    if (this.options.localOnly || this.options.messageIds) return 'none';
    if (this.options.full || !row?.synced_at) return 'full';
    const fullEvery = this.session.config.fullEvery;
    if (fullEvery > 0 && (!row.full_sync_at || Date.now() - Date.parse(row.full_sync_at) > fullEvery * DAY_MS)) return 'full';
    return row.has_events === 0 ? 'window' : 'events';
  }

  /** Reads both sides and plans what arrives; returns the mark to store when all went through. */
  private async syncRemoteAndLocal(row: ProjectRow | undefined): Promise<SyncMark | undefined> {
    const { session, summary } = this;
    const mode = (summary.mode = this.chooseMode(row));
    const revision = this.changes.revision;
    const lastmodUsable = row?.nm_uuid === revision.uuid && row.nm_lastmod !== null && mode !== 'full';
    summary.local = lastmodUsable ? 'lastmod' : 'full';
    if (row?.nm_uuid && row.nm_uuid !== revision.uuid) summary.notes.push('the notmuch database was rebuilt (new UUID); read all its patch mail again');
    const list = this.configuredList ?? row?.list_email ?? undefined;
    const listQuery = list ? `to:"${list.replace(/"/g, '""')}"` : undefined;
    const projectTag = session.scheme.project(this.project);

    if (this.options.messageIds) {
      summary.mode = 'none';
      const ids = this.options.messageIds.map(notmuchMessageId);
      this.local = ids.length ? await session.notmuch.dump(ids.map(idQuery).join(' or ')) : new Map();
      return undefined;
    }
    this.local = lastmodUsable
      ? new Map(await this.changes.since(row.nm_lastmod!))
      : await session.notmuch.dump(listQuery ? `tag:${projectTag} or ${listQuery}` : `tag:${projectTag}`);
    if (mode === 'none') return row ? this.markFor({ date: row.event_mark, ids: JSON.parse(row.event_ids ?? '[]') as number[] }, row.has_events) : undefined;

    const client = this.client!;
    const projectId = row!.project_id;
    if (mode === 'events') {
      const mark: EventMark = { date: row!.event_mark, ids: JSON.parse(row!.event_ids ?? '[]') as number[] };
      let read;
      try {
        read = await readEvents(client, projectId, mark);
      } catch (err) {
        if (!(err instanceof PwnmError && err.code === 'NOT_FOUND')) throw err;
        summary.notes.push(`${this.inst.name} has no events API: state changes of patches mailed before the last sync are seen only by --full`);
        return this.windowSync(row!);
      }
      summary.eventsRead = read.read;
      await this.applyEvents(read.events);
      return this.markFor(read.next, 1);
    }
    if (mode === 'window') return this.windowSync(row!);

    // Full: take the event mark first, so that what changes while we list is seen next time.
    let mark: EventMark = { date: null, ids: [] };
    let hasEvents = 1;
    try {
      mark = await newestEvent(client, projectId);
    } catch (err) {
      if (!(err instanceof PwnmError && err.code === 'NOT_FOUND')) throw err;
      hasEvents = 0;
    }
    const epoch = this.options.epoch ?? this.inst.epoch;
    let since: string | undefined;
    if (epoch) since = `${epoch}T00:00:00`;
    else if (listQuery) {
      // Only patches whose mail can be here: since the oldest mail of the list (a day earlier, for time zones).
      const oldest = await session.notmuch.oldest(`${listQuery} or tag:${projectTag}`);
      if (oldest) since = naiveUtc(new Date(oldest.getTime() - DAY_MS));
    }
    await this.listPatches(projectId, since);
    return { ...this.markFor(mark, hasEvents), full_sync_at: new Date().toISOString() };
  }

  private async windowSync(row: ProjectRow): Promise<SyncMark> {
    this.summary.mode = 'window';
    const last = row.synced_at ? Date.parse(row.synced_at) : Date.now();
    await this.listPatches(row.project_id, naiveUtc(new Date(last - WINDOW_MARGIN_MS)));
    return this.markFor({ date: null, ids: [] }, 0);
  }

  private markFor(mark: EventMark, hasEvents: number | null): SyncMark {
    return {
      event_mark: mark.date, event_ids: JSON.stringify(mark.ids), has_events: hasEvents,
      nm_uuid: this.changes.revision.uuid, nm_lastmod: this.changes.revision.lastmod, synced_at: new Date().toISOString(),
    };
  }

  /** Stream the project's patch list through the planner, page by page. */
  private async listPatches(projectId: number, since: string | undefined): Promise<void> {
    this.summary.since = since ?? null;
    let pages = 0;
    await this.client!.eachPage<PwPatch>('patches', { project: projectId, since, order: 'id' }, async (items) => {
      checkCancel(this.options.signal);
      this.applyPatches(items);
      this.progress('fetch', ++pages, 0, `${this.project}: ${this.summary.fetched} patches read`);
      await this.writer.room();
    });
  }

  /**
   * Apply events: states from state changes, delegates from delegations,
   * and the whole patch where the events cannot tell (new patches' state,
   * series and checks; a new check's effect on the combined check).
   */
  private async applyEvents(events: PwEvent[]): Promise<void> {
    const { store } = this.session;
    const states = new Map<number, Omit<RemotePatch, 'archived'>>();
    const delegates = new Map<number, { msgid: string; username: string | null }>();
    const refetch = new Map<number, string>();
    for (const e of events) {
      const patch = e.payload.patch;
      if (!patch) continue;
      if (e.category === 'patch-created' || e.category === 'check-created') refetch.set(patch.id, patch.date ?? '');
      if (e.category === 'patch-state-changed' && e.payload.current_state) {
        states.set(patch.id, { msgid: notmuchMessageId(patch.msgid), patch_id: patch.id, remote: e.payload.current_state, date: patch.date ?? null, name: patch.name ?? null, web_url: patch.web_url ?? null, mbox: null });
      }
      if (e.category === 'patch-delegated') delegates.set(patch.id, { msgid: notmuchMessageId(patch.msgid), username: e.payload.current_delegate?.username ?? null });
    }
    const rows = [...states.values()];
    this.inTransaction(() => {
      if (!this.dryRun) store.upsertStates(this.inst.name, this.project, rows);
      for (const [id, d] of delegates) if (!this.dryRun) store.setDelegate(this.inst.name, this.project, id, d.username);
      for (const r of rows) if (!refetch.has(r.patch_id)) this.decide(r.msgid, r.patch_id, r.remote);
      for (const [id, d] of delegates) {
        const stored = store.patch(this.inst.name, this.project, d.msgid);
        if (stored && !states.has(id) && !refetch.has(id)) this.decide(d.msgid, id, stored.remote);
      }
    });
    if (refetch.size === 0) return;
    // Few: one GET each; many: one paged list from the oldest one's mail date.
    const projectId = this.session.store.project(this.inst.name, this.project)?.project_id;
    const ids = [...refetch.keys()];
    if (ids.length <= 8 || projectId === undefined) {
      const patches = await mapLimit(ids, this.session.config.concurrency, (id) => this.client!.get<PwPatch>(`patches/${id}`).catch((err: unknown) => {
        if (err instanceof PwnmError && err.code === 'NOT_FOUND') return undefined; // deleted since
        throw err;
      }));
      this.applyPatches(patches.filter((p): p is PwPatch => p !== undefined));
    } else {
      const oldest = [...refetch.values()].filter(Boolean).sort()[0];
      await this.listPatches(projectId, oldest ? naiveUtc(new Date(Date.parse(`${oldest.slice(0, 19)}Z`) - 60_000)) : undefined);
    }
  }

  /** Store whole patches from Patchwork and plan each. */
  private applyPatches(patches: readonly PwPatch[]): void {
    const { store } = this.session;
    const rows = patches.map(toRemote);
    this.summary.fetched += rows.length;
    this.inTransaction(() => {
      const newSeries = this.session.config.supersedeOlderSeries ? rows.filter((r) => r.series_id && (r.series_version ?? 1) > 1 && !store.knowsSeries(this.inst.name, this.project, r.series_id)) : [];
      if (!this.dryRun) store.upsertPatches(this.inst.name, this.project, rows);
      for (const r of rows) this.decide(r.msgid, r.patch_id, r.remote);
      this.supersede(newSeries);
    });
  }

  /**
   * Opt-in (supersede_older_series): when a new version of a series arrives,
   * mark the patches of its older versions superseded. Patchwork does not
   * link versions, so: same project and submitter, the same series name
   * once version prefixes are dropped, and a lower version.
   */
  private supersede(newRows: readonly RemotePatch[]): void {
    const { store } = this.session;
    const seen = new Set<number>();
    const done = new Set(['superseded', 'accepted', 'rejected', 'not-applicable']);
    for (const r of newRows) {
      if (!r.submitter || !r.series_id || seen.has(r.series_id)) continue;
      seen.add(r.series_id);
      for (const old of store.olderSeriesPatches(this.inst.name, this.project, r.submitter, r.series_version ?? 1)) {
        if (seriesKey(old.series_name) !== seriesKey(r.series_name ?? null) || done.has(old.remote)) continue;
        if (this.pushes.some((p) => p.msgid === old.msgid)) continue;
        // Read-only means no write request at all: say what would be done.
        if (!this.client?.canWrite) {
          this.summary.notes.push(`read-only: would mark patch ${old.patch_id} (v${old.series_version}) superseded by series ${r.series_id} (v${r.series_version})`);
          continue;
        }
        this.summary.notes.push(`patch ${old.patch_id} (v${old.series_version}) superseded by series ${r.series_id} (v${r.series_version})`);
        this.pushes.push({ msgid: old.msgid, patchId: old.patch_id, state: 'superseded', remote: old.remote });
      }
    }
  }

  private report(kind: MessageEvent['kind'], list: Report[], report: Report): void {
    list.push(report);
    this.options.onMessage?.({ msgid: report.msgid, project: this.project, kind, ...(report.local ? { state: report.local } : {}), reason: report.reason });
  }

  private inTransaction(fn: () => void): void {
    if (this.dryRun) fn();
    else this.session.store.transaction(fn);
  }

  /** Plan one message against a known server state; unknown local tags are looked up later. */
  private decide(msgid: string, patchId: number, remote: string, lookup = true): void {
    const { store, scheme } = this.session;
    const { inst, project } = this;
    if (!this.suffixes.has(remote)) this.suffixes.set(remote, remote);
    const tags = this.local.get(msgid);
    if (!tags && lookup) {
      this.unseen.push({ msgid, patchId, remote });
      return;
    }
    this.handled.add(msgid);
    const stored = store.patch(inst.name, project, msgid);
    const view = tags ? readTags(scheme, project, tags, this.suffixes) : undefined;
    const action = plan({
      remote: { state: remote, archived: Boolean(stored?.archived) },
      agreed: { state: stored?.baseline ?? null, archived: stored?.archived_base === null || stored?.archived_base === undefined ? null : Boolean(stored.archived_base) },
      journal: stored?.journal ?? null,
      local: view && { states: view.states, missingBaseTags: view.missingBaseTags, archived: tags!.includes(scheme.archived(project)) },
      prefer: this.prefer,
      access: this.options.localOnly ? 'local-only' : this.client?.canWrite ? 'write' : 'read-only',
      // Without a stored row (a dry run's new patch) there is no flag to follow yet.
      archivedFamily: this.session.config.tags.archived && stored !== undefined,
      claimed: !this.options.messageIds && this.session.claimed.has(msgid),
    });
    this.act({ msgid, patchId, remote }, action, tags ?? [], stored);
  }

  /** Carry out one planned action: report, record, queue a push, or queue a retag. */
  private act(msg: { msgid: string; patchId: number; remote: string }, action: Action, tags: readonly string[], stored: PatchRow | undefined): void {
    const { store } = this.session;
    const { summary, inst, project } = this;
    const { msgid, patchId, remote } = msg;
    switch (action.kind) {
      case 'skip': return;
      case 'missing': summary.missingLocally++; return;
      case 'ambiguous': {
        const reason = `tags name several new states (${action.states.join(', ')}); keep one of them`;
        this.report('ambiguous', summary.ambiguous, { msgid, patchId, remote, reason });
        if (!this.dryRun) store.putPending({ instance: inst.name, project, msgid, kind: 'ambiguous', state: null, reason });
        return;
      }
      case 'queue': {
        const label = describePush(action.change);
        const reason = action.why === 'local-only' ? 'recorded by a local-only run; the next sync pushes it' : readOnlyReason(inst.name);
        this.report('queued', summary.queued, { msgid, patchId, local: label, remote, reason });
        if (!this.dryRun) store.putPending({ instance: inst.name, project, msgid, kind: 'push', state: label, reason });
        return;
      }
      case 'push':
        this.pushes.push({ ...msg, ...action.change, ...(action.conflict ? { conflict: action.conflict } : {}) });
        return;
      case 'retag': {
        if (action.push) this.pushes.push({ ...msg, ...action.push });
        const { conflict } = action;
        if (conflict) this.report('conflict', summary.conflicts, { msgid, patchId, local: conflict.local, remote: conflict.remote, reason: `changed on both sides; kept Patchwork's ${conflict.remote}` });
        this.retag(msgid, tags, action.state, {
          stored,
          ...(conflict ? { conflict: `local ${conflict.local}, Patchwork ${conflict.remote}; kept Patchwork's` } : {}),
          ...(action.archived !== undefined ? { archived: action.archived } : {}),
          quiet: action.quiet,
        });
        return;
      }
    }
  }

  /** Derived tags (checks, delegation) for a stored patch. */
  private extras(stored: PatchRow | undefined, archived: boolean | undefined): Extras {
    const inst = this.inst;
    return { derived: derivedTags(this.session.scheme, this.session.config.tags, inst.me, this.project, stored), ...(archived !== undefined ? { archived } : {}) };
  }

  /**
   * Make a message's tags say `state` (and `archived`, when given), and
   * record that as agreed once applied. `stored` spares a lookup when the
   * caller has the row; `quiet` records nothing when no tag changes.
   */
  private retag(msgid: string, tags: readonly string[], state: string, opts: { stored?: PatchRow | undefined; conflict?: string; archived?: boolean; quiet?: boolean } = {}): void {
    const { store, scheme } = this.session;
    const { inst, project } = this;
    const { conflict, archived, quiet = false } = opts;
    const stored = 'stored' in opts ? opts.stored : store.patch(inst.name, project, msgid);
    const change = retagChange(scheme, project, msgid, tags, state, this.extras(stored, archived));
    if (quiet && !change) {
      // Tags already right: only a first agreement on the archived flag to record.
      if (!this.dryRun && archived !== undefined && stored?.archived_base === null) store.commitArchived(inst.name, project, msgid, archived);
      return;
    }
    if (change) {
      this.summary.retagged++;
      this.options.onMessage?.({ msgid, project, kind: 'retagged', state });
    }
    if (this.dryRun) return;
    this.local.set(msgid, applyChange(tags, change));
    if (change) store.setJournal(inst.name, project, msgid, state);
    this.writer.add({
      msgid,
      change,
      commit: () => {
        store.commitBaseline(inst.name, project, msgid, state);
        if (archived !== undefined) store.commitArchived(inst.name, project, msgid, archived);
        store.dropPending(inst.name, project, msgid, 'push');
        store.dropPending(inst.name, project, msgid, 'ambiguous');
        if (conflict) store.putPending({ instance: inst.name, project, msgid, kind: 'conflict', state, reason: conflict });
      },
    });
  }

  /** Mail the list query did not find (Bcc, another alias, or not read this run): by message-id, in large batches. */
  private async resolveUnseen(): Promise<void> {
    const unseen = this.unseen.splice(0).filter((u) => !this.handled.has(u.msgid));
    for (let i = 0; i < unseen.length; i += ID_BATCH) {
      checkCancel(this.options.signal);
      const chunk = unseen.slice(i, i + ID_BATCH);
      const found = await this.session.notmuch.dump(chunk.map((u) => idQuery(u.msgid)).join(' or '));
      for (const [msgid, tags] of found) this.local.set(msgid, tags);
      this.inTransaction(() => chunk.forEach((u) => this.decide(u.msgid, u.patchId, u.remote, false)));
    }
  }

  /** Messages read locally but not planned yet (changed tags, new mail), and queued pushes. */
  private async planLocalChanges(): Promise<void> {
    const { store } = this.session;
    const { inst, project } = this;
    this.inTransaction(() => {
      for (const msgid of this.local.keys()) {
        if (this.handled.has(msgid)) continue;
        const stored = store.patch(inst.name, project, msgid);
        if (stored) this.decide(msgid, stored.patch_id, stored.remote, false);
      }
    });
    const focus = this.options.messageIds ? new Set(this.options.messageIds.map(notmuchMessageId)) : undefined;
    for (const pending of store.pending(inst.name, project)) {
      if (pending.kind !== 'push' || this.handled.has(pending.msgid) || (focus && !focus.has(pending.msgid))) continue;
      const stored = store.patch(inst.name, project, pending.msgid);
      if (stored) this.unseen.push({ msgid: pending.msgid, patchId: stored.patch_id, remote: stored.remote });
    }
    await this.resolveUnseen();
  }

  /** Retag after a push went through or was refused: the stored row now says what Patchwork has. */
  private retagAfterPush(push: Pick<Push, 'msgid' | 'archived'>, tags: readonly string[], state: string, conflict?: string): void {
    const stored = this.session.store.patch(this.inst.name, this.project, push.msgid);
    const archived = this.session.config.tags.archived ? push.archived ?? Boolean(stored?.archived) : undefined;
    this.retag(push.msgid, tags, state, { stored, ...(conflict ? { conflict } : {}), ...(archived !== undefined ? { archived } : {}) });
  }

  private async runPushes(): Promise<void> {
    const { store } = this.session;
    const { summary, inst, project } = this;
    const list = this.pushes.splice(0);
    // Pushes the engine made itself (supersede) are of messages whose tags were not read yet.
    const unread = list.filter((p) => !this.local.has(p.msgid)).map((p) => idQuery(p.msgid));
    for (let i = 0; i < unread.length; i += 200) {
      for (const [msgid, tags] of await this.session.notmuch.dump(unread.slice(i, i + 200).join(' or '))) this.local.set(msgid, tags);
    }
    let done = 0;
    let authFailed: string | undefined;
    await mapLimit(list, this.session.config.concurrency, async (push) => {
      checkCancel(this.options.signal);
      const label = describePush(push);
      this.progress('push', done++, list.length, `${project}: pushing ${label} for patch ${push.patchId}`);
      if (this.dryRun) {
        summary.pushed++;
        return;
      }
      const queue = (reason: string): void => {
        this.report('queued', summary.queued, { msgid: push.msgid, patchId: push.patchId, local: label, remote: push.remote, reason });
        store.putPending({ instance: inst.name, project, msgid: push.msgid, kind: 'push', state: label, reason, attempts: 1 });
      };
      if (authFailed) return queue(authFailed);
      const tags = this.local.get(push.msgid) ?? [];
      try {
        await this.client!.updatePatch(push.patchId, { ...(push.state !== undefined ? { state: push.state } : {}), ...(push.archived !== undefined ? { archived: push.archived } : {}) }, project);
        crashPoint('after-push');
        if (push.state !== undefined) store.setRemote(inst.name, project, push.msgid, push.state);
        if (push.archived !== undefined) store.setArchived(inst.name, project, push.msgid, push.archived);
        summary.pushed++;
        this.options.onMessage?.({ msgid: push.msgid, project, kind: 'pushed', state: label });
        if (push.conflict) this.report('conflict', summary.conflicts, { msgid: push.msgid, patchId: push.patchId, local: push.conflict.local, remote: push.conflict.remote, reason: `changed on both sides; pushed the local ${label}` });
        this.retagAfterPush(push, tags, push.state ?? push.remote, push.conflict ? `local ${push.conflict.local}, Patchwork ${push.conflict.remote}; pushed local` : undefined);
      } catch (err) {
        if (err instanceof PwnmError && (err.code === 'FORBIDDEN' || err.code === 'BAD_REQUEST')) {
          // Refused for good: put Patchwork's values back, as a sync would.
          const reason = err.code === 'FORBIDDEN' ? `not a maintainer of ${project} on ${inst.name}` : errorMessage(err);
          this.report('refused', summary.refused, { msgid: push.msgid, patchId: push.patchId, local: label, remote: push.remote, reason });
          store.putPending({ instance: inst.name, project, msgid: push.msgid, kind: 'refused', state: label, reason });
          this.retagAfterPush({ msgid: push.msgid }, tags, push.remote);
        } else if (err instanceof PwnmError && err.code === 'AUTH') {
          authFailed = err.message;
          summary.errors.push(err.message);
          queue(err.message);
        } else if (isTransient(err) || err instanceof PwnmError) {
          queue(errorMessage(err));
        } else {
          throw err;
        }
      }
    });
  }
}
