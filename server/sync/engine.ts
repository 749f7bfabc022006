import type { InstanceConfig, Prefer } from '../config.js';
import { PwnmError, errorMessage, isTransient } from '../errors.js';
import { idQuery, notmuchMessageId } from '../notmuch/encoding.js';
import type { PatchworkClient } from '../patchwork/client.js';
import type { PwPatch } from '../patchwork/types.js';
import type { Session } from '../session.js';
import type { RemotePatch } from '../store/store.js';
import { DEFAULT_STATES } from '../states.js';
import { mapLimit, naiveUtc } from '../util.js';
import { applyChange, readTags, retagChange, suffixMap } from './local.js';
import { SyncLock } from './lock.js';
import { plan, type Conflict, type Plan } from './planner.js';
import { TagWriter } from './tag-writer.js';

// One sync: for each selected project, read the local tags in one notmuch
// call, stream Patchwork's patch pages through the planner as they arrive,
// tag in ~1 s batches while fetching goes on, then push local changes.

export interface SyncOptions {
  projects?: readonly string[];
  epoch?: string;
  full?: boolean;
  dryRun?: boolean;
  prefer?: Prefer;
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
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

export interface ProjectSummary {
  instance: string;
  project: string;
  mode: 'full' | 'window';
  since: string | null;
  fetched: number;
  retagged: number;
  pushed: number;
  conflicts: Report[];
  ambiguous: Report[];
  refused: Report[];
  queued: Report[];
  missingLocally: number;
  httpRequests: number;
  notmuchCalls: number;
  errors: string[];
}

export interface SyncSummary {
  dryRun: boolean;
  durationMs: number;
  projects: ProjectSummary[];
  /** True when every change went through (nothing refused, queued or failed). */
  ok: boolean;
}

export function toRemote(p: PwPatch): RemotePatch {
  return {
    msgid: notmuchMessageId(p.msgid),
    patch_id: p.id,
    remote: p.state,
    archived: p.archived ? 1 : 0,
    date: p.date ?? null,
    name: p.name ?? null,
    web_url: p.web_url ?? null,
    mbox: p.mbox ?? null,
  };
}

function checkCancel(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new PwnmError('CANCELLED', 'sync cancelled; what was applied is kept, the rest waits for the next sync');
}

export async function sync(session: Session, options: SyncOptions = {}): Promise<SyncSummary> {
  const started = performance.now();
  const selected = session.select(options.projects);
  const lock = options.dryRun ? undefined : SyncLock.acquire(session.config.stateDb);
  const projects: ProjectSummary[] = [];
  try {
    for (const sel of selected) {
      checkCancel(options.signal);
      projects.push(await syncProject(session, sel.instance, sel.project, sel.list, options));
    }
  } finally {
    lock?.release();
  }
  const ok = projects.every((p) => p.errors.length === 0 && p.refused.length === 0 && p.queued.length === 0 && p.ambiguous.length === 0);
  return { dryRun: Boolean(options.dryRun), durationMs: Math.round(performance.now() - started), projects, ok };
}

/** Message-ids per notmuch lookup query. */
const ID_BATCH = 500;

interface Push { msgid: string; patchId: number; state: string; remote: string; conflict?: Conflict }

async function syncProject(session: Session, inst: InstanceConfig, project: string, configuredList: string | undefined, options: SyncOptions): Promise<ProjectSummary> {
  const { store, notmuch, scheme } = session;
  const dryRun = Boolean(options.dryRun);
  const prefer = options.prefer ?? session.config.prefer;
  const summary: ProjectSummary = {
    instance: inst.name, project, mode: 'full', since: null, fetched: 0, retagged: 0, pushed: 0,
    conflicts: [], ambiguous: [], refused: [], queued: [], missingLocally: 0, httpRequests: 0, notmuchCalls: 0, errors: [],
  };
  const progress = (phase: Progress['phase'], done: number, total: number, message: string): void =>
    options.onProgress?.({ phase, project, done, total, message });
  const nmCallsBefore = notmuch.calls;
  let client: PatchworkClient | undefined;
  let requestsBefore = 0;
  const writer = new TagWriter(notmuch, {
    transaction: (fn) => store.transaction(fn),
    onBatch: (n) => progress('tag', writer.applied, writer.applied + n, `${project}: tagged ${writer.applied} messages`),
  });

  try {
    client = await session.client(inst);
    requestsBefore = client.requests;
    const version = await client.discover();
    let projectRow = store.project(inst.name, project);
    if (!projectRow || projectRow.api_version !== version || options.full) {
      const found = await client.project(project);
      projectRow = { instance: inst.name, link_name: project, project_id: found.id, list_email: found.list_email || null, api_version: version, full_sync_at: projectRow?.full_sync_at ?? null };
      if (!dryRun) store.putProject(projectRow);
    }
    const list = configuredList ?? projectRow.list_email ?? undefined;
    const projectTag = scheme.project(project);
    const listQuery = list ? `to:"${list.replace(/"/g, '""')}"` : undefined;
    const local = await notmuch.dump(listQuery ? `tag:${projectTag} or ${listQuery}` : `tag:${projectTag}`);

    // Only patches whose mail can be here: since the oldest mail of the list
    // (a day earlier, for time zones), or the configured epoch.
    const epoch = options.epoch ?? inst.epoch;
    let since: string | undefined;
    if (epoch) since = `${epoch}T00:00:00`;
    else if (listQuery) {
      const oldest = await notmuch.oldest(`${listQuery} or tag:${projectTag}`);
      if (oldest) since = naiveUtc(new Date(oldest.getTime() - 86_400_000));
    }
    summary.mode = since ? 'window' : 'full';
    summary.since = since ?? null;

    const suffixes = suffixMap([...DEFAULT_STATES, ...store.knownStates(inst.name, project)]);
    const handled = new Set<string>();
    const pushes: Push[] = [];

    // Patches whose mail the list query did not find: looked up by id after the pages.
    const unseen: { msgid: string; patchId: number; remote: string }[] = [];

    const decide = (msgid: string, patchId: number, remote: string, lookup = true): void => {
      const tags = local.get(msgid);
      if (!tags && lookup) {
        unseen.push({ msgid, patchId, remote });
        return;
      }
      const stored = store.patch(inst.name, project, msgid);
      const view = tags ? readTags(scheme, project, tags, suffixes) : undefined;
      const p: Plan = plan({
        remote,
        baseline: stored?.baseline ?? null,
        journal: stored?.journal ?? null,
        local: view?.states,
        missingBaseTags: view?.missingBaseTags ?? false,
        prefer,
        canPush: client!.canWrite,
      });
      switch (p.kind) {
        case 'none': return;
        case 'missing': summary.missingLocally++; return;
        case 'retag': {
          if (p.conflict) summary.conflicts.push({ msgid, patchId, local: p.conflict.local, remote: p.conflict.remote, reason: `changed on both sides; kept Patchwork's ${p.conflict.remote}` });
          retag(msgid, tags!, p.state, p.conflict ? `local ${p.conflict.local}, Patchwork ${p.conflict.remote}; kept Patchwork's` : undefined);
          return;
        }
        case 'push': pushes.push({ msgid, patchId, state: p.state, remote, ...(p.conflict ? { conflict: p.conflict } : {}) }); return;
        case 'blocked': {
          const reason = `read-only: no token for ${inst.name}; the change waits until one is configured`;
          summary.queued.push({ msgid, patchId, local: p.state, remote, reason });
          if (!dryRun) store.putPending({ instance: inst.name, project, msgid, kind: 'push', state: p.state, reason });
          return;
        }
        case 'ambiguous': {
          const reason = `tags name several new states (${p.states.join(', ')}); keep one of them`;
          summary.ambiguous.push({ msgid, patchId, remote, reason });
          if (!dryRun) store.putPending({ instance: inst.name, project, msgid, kind: 'ambiguous', state: null, reason });
          return;
        }
      }
    };

    const retag = (msgid: string, tags: readonly string[], state: string, conflict?: string): void => {
      const change = retagChange(scheme, project, msgid, tags, state);
      if (change) summary.retagged++;
      if (dryRun) return;
      local.set(msgid, applyChange(tags, change));
      if (change) store.setJournal(inst.name, project, msgid, state);
      writer.add({
        change,
        commit: () => {
          store.commitBaseline(inst.name, project, msgid, state);
          store.dropPending(inst.name, project, msgid, 'push');
          store.dropPending(inst.name, project, msgid, 'ambiguous');
          if (conflict) store.putPending({ instance: inst.name, project, msgid, kind: 'conflict', state, reason: conflict });
        },
      });
    };

    const fetchQuery = { project: projectRow.project_id, since, order: 'id' };
    let pagesDone = 0;
    await client.eachPage<PwPatch>('patches', fetchQuery, (items) => {
      checkCancel(options.signal);
      const rows = items.map(toRemote);
      summary.fetched += rows.length;
      for (const r of rows) if (!suffixes.has(r.remote)) suffixes.set(r.remote, r.remote);
      const apply = (): void => {
        if (!dryRun) store.upsertPatches(inst.name, project, rows);
        for (const r of rows) {
          handled.add(r.msgid);
          decide(r.msgid, r.patch_id, r.remote);
        }
      };
      if (dryRun) apply();
      else store.transaction(apply);
      progress('fetch', ++pagesDone, 0, `${project}: ${summary.fetched} patches read`);
    });

    // Mail not sent to the list (Bcc, another alias): by message-id, in large batches.
    for (let i = 0; i < unseen.length; i += ID_BATCH) {
      checkCancel(options.signal);
      const chunk = unseen.slice(i, i + ID_BATCH);
      const found = await notmuch.dump(chunk.map((u) => idQuery(u.msgid)).join(' or '));
      for (const [msgid, tags] of found) local.set(msgid, tags);
      store.transaction(() => chunk.forEach((u) => decide(u.msgid, u.patchId, u.remote, false)));
    }

    // Tracked messages outside the fetched window: plan against the stored state.
    store.transaction(() => {
      for (const msgid of local.keys()) {
        if (handled.has(msgid)) continue;
        const stored = store.patch(inst.name, project, msgid);
        if (stored) decide(msgid, stored.patch_id, stored.remote, false);
      }
    });

    checkCancel(options.signal);
    await runPushes(pushes);
    checkCancel(options.signal);
    await writer.flush();
    if (!dryRun && !since) store.markFullSync(inst.name, project, new Date().toISOString());
    progress('done', 1, 1, `${project}: done`);

    async function runPushes(list: Push[]): Promise<void> {
      let done = 0;
      let authFailed: string | undefined;
      await mapLimit(list, session.config.concurrency, async (push) => {
        checkCancel(options.signal);
        progress('push', done++, list.length, `${project}: pushing ${push.state} for patch ${push.patchId}`);
        if (dryRun) {
          summary.pushed++;
          return;
        }
        const queue = (reason: string): void => {
          summary.queued.push({ msgid: push.msgid, patchId: push.patchId, local: push.state, remote: push.remote, reason });
          store.putPending({ instance: inst.name, project, msgid: push.msgid, kind: 'push', state: push.state, reason, attempts: 1 });
        };
        if (authFailed) return queue(authFailed);
        store.putPending({ instance: inst.name, project, msgid: push.msgid, kind: 'push', state: push.state, reason: 'pushing' });
        try {
          await client!.updatePatch(push.patchId, { state: push.state }, project);
          store.setRemote(inst.name, project, push.msgid, push.state);
          summary.pushed++;
          if (push.conflict) summary.conflicts.push({ msgid: push.msgid, patchId: push.patchId, local: push.conflict.local, remote: push.conflict.remote, reason: `changed on both sides; pushed the local ${push.state}` });
          retag(push.msgid, local.get(push.msgid) ?? [], push.state, push.conflict ? `local ${push.conflict.local}, Patchwork ${push.conflict.remote}; pushed local` : undefined);
        } catch (err) {
          if (err instanceof PwnmError && (err.code === 'FORBIDDEN' || err.code === 'BAD_REQUEST')) {
            // Refused for good: put Patchwork's state back, as a sync would.
            const reason = err.code === 'FORBIDDEN' ? `not a maintainer of ${project} on ${inst.name}` : errorMessage(err);
            summary.refused.push({ msgid: push.msgid, patchId: push.patchId, local: push.state, remote: push.remote, reason });
            store.putPending({ instance: inst.name, project, msgid: push.msgid, kind: 'refused', state: push.state, reason });
            retag(push.msgid, local.get(push.msgid) ?? [], push.remote);
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
  } catch (err) {
    writer.stop();
    if (err instanceof PwnmError && (err.code === 'CANCELLED' || err.code === 'SYNC_RUNNING')) throw err;
    if (!(err instanceof PwnmError)) throw err;
    summary.errors.push(err.message);
  } finally {
    summary.httpRequests = client ? client.requests - requestsBefore : 0;
    summary.notmuchCalls = notmuch.calls - nmCallsBefore;
  }
  return summary;
}
