import { PwnmError, errorMessage, isTransient } from '../errors.js';
import { idQuery } from '../notmuch/encoding.js';
import { isRefusal, refusalReason } from '../reasons.js';
import { mapLimit } from '../util.js';
import { retag } from './apply.js';
import { crashPoint } from './crash.js';
import { checkCancel, describePush, type ProjectRun, type Push } from './run.js';

// Send the planned pushes, a few at a time; what Patchwork answers is
// recorded and retagged through the same apply step as a sync's plans.

/** Message-ids per notmuch lookup query for pushes' tags. */
const TAG_BATCH = 200;

export async function runPushes(run: ProjectRun): Promise<void> {
  const list = run.pushes.splice(0);
  await readUnreadTags(run, list);
  let done = 0;
  const auth: { failed?: string } = {};
  await mapLimit(list, run.session.config.concurrency, async (push) => {
    checkCancel(run.options.signal);
    run.progress('push', done++, list.length, `${run.project}: pushing ${describePush(push)} for patch ${push.patchId}`);
    if (run.dryRun) {
      run.summary.pushed++;
      return;
    }
    if (auth.failed) return run.queue(push, auth.failed, 1);
    await pushOne(run, push, auth);
  });
}

/** Pushes the engine made itself (supersede) are of messages whose tags were not read yet. */
async function readUnreadTags(run: ProjectRun, list: readonly Push[]): Promise<void> {
  const unread = list.filter((p) => !run.local.has(p.msgid)).map((p) => idQuery(p.msgid));
  for (let i = 0; i < unread.length; i += TAG_BATCH) {
    await run.session.notmuch.dump(unread.slice(i, i + TAG_BATCH).join(' or '), run.tagSets, run.local);
  }
}

async function pushOne(run: ProjectRun, push: Push, auth: { failed?: string }): Promise<void> {
  const { store } = run.session;
  const { summary, inst, project } = run;
  const label = describePush(push);
  try {
    await run.client!.updatePatch(push.patchId, { ...(push.state !== undefined ? { state: push.state } : {}), ...(push.archived !== undefined ? { archived: push.archived } : {}) }, project);
    crashPoint('after-push');
    if (push.state !== undefined) store.setRemote(inst.name, project, push.msgid, push.state);
    if (push.archived !== undefined) store.setArchived(inst.name, project, push.msgid, push.archived);
    summary.pushed++;
    run.options.onMessage?.({ msgid: push.msgid, project, kind: 'pushed', state: label });
    if (push.conflict) run.report('conflict', summary.conflicts, { msgid: push.msgid, patchId: push.patchId, local: push.conflict.local, remote: push.conflict.remote, reason: `changed on both sides; pushed the local ${label}` });
    retagOutcome(run, push, push.state ?? push.remote, push.conflict ? `local ${push.conflict.local}, Patchwork ${push.conflict.remote}; pushed local` : undefined);
  } catch (err) {
    // Cancelled: nothing more; the local change stays for the next sync to push.
    if (err instanceof PwnmError && err.code === 'CANCELLED') throw err;
    if (isRefusal(err)) {
      // Refused for good: put Patchwork's values back, as a sync would.
      const reason = refusalReason(err, project, inst.name);
      run.report('refused', summary.refused, { msgid: push.msgid, patchId: push.patchId, local: label, remote: push.remote, reason });
      store.putPending({ instance: inst.name, project, msgid: push.msgid, kind: 'refused', state: label, reason });
      retagOutcome(run, { msgid: push.msgid, row: push.row }, push.remote);
    } else if (err instanceof PwnmError && err.code === 'AUTH') {
      auth.failed = err.message;
      summary.errors.push(err.message);
      run.queue(push, err.message, 1);
    } else if (isTransient(err) || err instanceof PwnmError) {
      run.queue(push, errorMessage(err), 1);
    } else {
      throw err;
    }
  }
}

/**
 * Retag after a push went through or was refused: to `state` and the
 * archived flag Patchwork now has (the pushed one, else the planned row's),
 * with the planned row's checks and delegate.
 */
function retagOutcome(run: ProjectRun, push: Pick<Push, 'msgid' | 'archived' | 'row'>, state: string, conflict?: string): void {
  const stored = push.row;
  const archived = run.session.config.tags.archived ? push.archived ?? Boolean(stored?.archived) : undefined;
  const tags = run.local.get(push.msgid) ?? [];
  retag(run, push.msgid, tags, state, { stored, ...(conflict ? { conflict } : {}), ...(archived !== undefined ? { archived } : {}) });
}
