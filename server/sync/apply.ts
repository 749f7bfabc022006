import { notmuchMessageId } from '../mail/message-id.js';
import { idQuery } from '../notmuch/encoding.js';
import type { PatchRow } from '../store/store.js';
import { applyChange, derivedTags, readTags, retagChange, type Extras } from './local.js';
import { plan, type Action } from './planner.js';
import { readOnlyReason } from '../reasons.js';
import { checkCancel, type ProjectRun, type Unseen } from './run.js';
import { toRemote } from '../patchwork/remote.js';
import type { PwPatch } from '../patchwork/types.js';
import { timeline } from '../timeline.js';
import { newSeriesVersions, supersede } from './supersede.js';

// Plan and apply: read one message's stored row and tags, ask the planner,
// and carry the action out (report, pending list, push list, tag batches).

/** Message-ids per notmuch lookup query. */
const ID_BATCH = 500;

/** Plan one message against a known server state; unknown local tags are looked up later. */
export function decide(run: ProjectRun, msg: Unseen, lookup = true): void {
  const { store, scheme } = run.session;
  const { msgid, remote } = msg;
  if (!run.suffixes.has(remote)) run.suffixes.set(remote, remote);
  const tags = run.local.get(msgid);
  if (!tags && lookup) {
    run.unseen.push(msg);
    return;
  }
  run.handled.add(msg.patchId);
  const stored = store.patch(run.inst.name, run.project, msgid);
  const view = tags ? readTags(scheme, run.project, tags, run.suffixes) : undefined;
  const action = plan({
    remote: { state: remote, archived: Boolean(stored?.archived) },
    agreed: { state: stored?.baseline ?? null, archived: stored?.archived_base === null || stored?.archived_base === undefined ? null : Boolean(stored.archived_base) },
    journal: stored?.journal ?? null,
    local: view && { states: view.states, missingBaseTags: view.missingBaseTags, archived: tags!.includes(scheme.archived(run.project)) },
    prefer: run.prefer,
    access: run.options.localOnly ? 'local-only' : run.client?.canWrite ? 'write' : 'read-only',
    // Without a stored row (a dry run's new patch) there is no flag to follow yet.
    archivedFamily: run.session.config.tags.archived && stored !== undefined,
    claimed: !run.options.messageIds && run.session.claimed.has(msgid),
  });
  act(run, msg, action, tags ?? [], stored);
}

/** Carry out one planned action: report, record, plan a push, or queue a retag. */
function act(run: ProjectRun, msg: Unseen, action: Action, tags: readonly string[], stored: PatchRow | undefined): void {
  const { summary, inst, project } = run;
  const { msgid, patchId, remote } = msg;
  switch (action.kind) {
    case 'skip': return;
    case 'missing': summary.missingLocally++; return;
    case 'ambiguous': {
      const reason = `tags name several new states (${action.states.join(', ')}); keep one of them`;
      run.report('ambiguous', summary.ambiguous, { msgid, patchId, remote, reason });
      if (!run.dryRun) run.session.store.putPending({ instance: inst.name, project, msgid, kind: 'ambiguous', state: null, reason });
      return;
    }
    case 'queue':
      run.queue({ ...msg, ...action.change }, action.why === 'local-only' ? 'recorded by a local-only run; the next sync pushes it' : readOnlyReason(inst.name));
      return;
    case 'push':
      run.pushes.push({ ...msg, ...action.change, ...(action.conflict ? { conflict: action.conflict } : {}), row: stored });
      return;
    case 'retag': {
      if (action.push) run.pushes.push({ ...msg, ...action.push, row: stored });
      const { conflict } = action;
      if (conflict) run.report('conflict', summary.conflicts, { msgid, patchId, local: conflict.local, remote: conflict.remote, reason: `changed on both sides; kept Patchwork's ${conflict.remote}` });
      retag(run, msgid, tags, action.state, {
        stored,
        ...(conflict ? { conflict: `local ${conflict.local}, Patchwork ${conflict.remote}; kept Patchwork's` } : {}),
        ...(action.archived !== undefined ? { archived: action.archived } : {}),
        quiet: action.quiet,
      });
    }
  }
}

/** Derived tags (checks, delegation) for a stored patch. */
function extras(run: ProjectRun, stored: PatchRow | undefined, archived: boolean | undefined): Extras {
  const { scheme, config } = run.session;
  return { derived: derivedTags(scheme, config.tags, run.inst.me, run.project, stored), ...(archived !== undefined ? { archived } : {}) };
}

export interface RetagOptions { stored: PatchRow | undefined; conflict?: string; archived?: boolean; quiet?: boolean }

/**
 * Make a message's tags say `state` (and `archived`, when given), and
 * record that as agreed once applied; `quiet` records nothing when no tag
 * changes. Sync plans and push outcomes both come through here.
 */
export function retag(run: ProjectRun, msgid: string, tags: readonly string[], state: string, opts: RetagOptions): void {
  const { store } = run.session;
  const { inst, project } = run;
  const { stored, conflict, archived, quiet = false } = opts;
  const change = retagChange(run.session.scheme, project, msgid, tags, state, extras(run, stored, archived));
  if (quiet && !change) {
    // Tags already right: only a first agreement on the archived flag to record.
    if (!run.dryRun && archived !== undefined && stored?.archived_base === null) store.commitArchived(inst.name, project, msgid, archived);
    return;
  }
  if (change) {
    run.summary.retagged++;
    run.options.onMessage?.({ msgid, project, kind: 'retagged', state });
  }
  if (run.dryRun) return;
  run.local.set(msgid, run.tagSets.intern(applyChange(tags, change)));
  if (change) store.setJournal(inst.name, project, msgid, state);
  run.writer.add({
    msgid,
    change: change && run.tagSets.shareChange(change),
    state,
    ...(archived !== undefined ? { archived } : {}),
    ...(conflict ? { conflict } : {}),
  });
}

/** Mail the list query did not find (Bcc, another alias, or not read this run): by message-id, in large batches. */
export async function resolveUnseen(run: ProjectRun): Promise<void> {
  const unseen = run.unseen.splice(0).filter((u) => !run.handled.has(u.patchId));
  for (let i = 0; i < unseen.length; i += ID_BATCH) {
    checkCancel(run.options.signal);
    const chunk = unseen.slice(i, i + ID_BATCH);
    await run.session.notmuch.dump(chunk.map((u) => idQuery(u.msgid)).join(' or '), run.tagSets, run.local);
    run.inTransaction(() => chunk.forEach((u) => decide(run, u, false)));
  }
}

/** Messages read locally but not planned yet (changed tags, new mail), and queued pushes. */
export async function planLocalChanges(run: ProjectRun): Promise<void> {
  const { store } = run.session;
  const { inst, project } = run;
  run.inTransaction(() => {
    for (const chunk of run.local.chunks()) {
      for (const msgid of chunk) {
        const patchId = store.patchId(inst.name, project, msgid);
        if (patchId === undefined || run.handled.has(patchId)) continue;
        const stored = store.patch(inst.name, project, msgid);
        if (stored) decide(run, { msgid, patchId: stored.patch_id, remote: stored.remote }, false);
      }
    }
  });
  const focus = run.options.messageIds ? new Set(run.options.messageIds.map(notmuchMessageId)) : undefined;
  for (const pending of store.pending(inst.name, project)) {
    if (pending.kind !== 'push' || (focus && !focus.has(pending.msgid))) continue;
    const stored = store.patch(inst.name, project, pending.msgid);
    if (stored && !run.handled.has(stored.patch_id)) run.unseen.push({ msgid: pending.msgid, patchId: stored.patch_id, remote: stored.remote });
  }
  await resolveUnseen(run);
}

/** Store whole patches from Patchwork and plan each. */
export function storeAndPlan(run: ProjectRun, patches: readonly PwPatch[]): void {
  const rows = patches.map(toRemote);
  run.summary.fetched += rows.length;
  const end = timeline.begin('plan', `store and plan ${rows.length} patches`, rows.length);
  run.inTransaction(() => {
    const newSeries = newSeriesVersions(run, rows);
    if (!run.dryRun) run.session.store.upsertPatches(run.inst.name, run.project, rows);
    for (const r of rows) decide(run, { msgid: r.msgid, patchId: r.patch_id, remote: r.remote });
    supersede(run, newSeries);
  });
  end();
}
