import { PwnmError } from '../errors.js';
import { notmuchMessageId } from '../mail/message-id.js';
import type { Revision } from '../notmuch/notmuch.js';
import type { Session } from '../session.js';
import { runRules } from '../mail/rules.js';
import { runTrailers, type TrailerChange } from '../mail/trailers.js';
import type { ProjectRow, SyncMark } from '../store/store.js';
import { planLocalChanges, resolveUnseen } from './apply.js';
import { timeline } from '../timeline.js';
import { crashPoint } from './crash.js';
import { suffixMap } from './local.js';
import { syncBundles } from './bundles.js';
import { SyncLock } from './lock.js';
import { runPushes } from './pushes.js';
import { connect, readBothSides } from './remote-read.js';
import { checkCancel, LocalChanges, ProjectRun } from './run.js';
import type { ProjectSummary, SyncOptions, SyncSummary } from './types.js';

export type { MessageEvent, ProjectSummary, Progress, RemoteMode, Report, SyncOptions, SyncSummary } from './types.js';

// One sync, per project a straight pipeline:
//   read both sides -> store and plan (remote-read.ts, apply.ts)
//   -> plan the rest (local changes, queued pushes) -> push (pushes.ts)
//   -> flush the tag batches -> record the sync mark.
// The planner (planner.ts) decides; every other step only does I/O.

export async function sync(session: Session, options: SyncOptions = {}): Promise<SyncSummary> {
  const started = performance.now();
  const end = timeline.begin('sync', options.localOnly ? 'sync --local-only' : 'sync');
  const nmBefore = session.notmuch.calls;
  const selected = session.select(options.projects);
  // A push of a few messages does not wait for a long sync: it claims its
  // messages instead (Session.claim), and the sync leaves them alone.
  const focused = options.messageIds !== undefined;
  const lock = options.dryRun || focused ? undefined : SyncLock.acquire(session.config.stateDb);
  if (!focused) session.syncing++;
  else session.claim(options.messageIds!.map(notmuchMessageId));
  const projects: ProjectSummary[] = [];
  let rules: Pick<SyncSummary, 'rules' | 'rulesError'> = {};
  let trailers: Pick<SyncSummary, 'trailers' | 'trailersError'> = {};
  try {
    // The revision is read before anything else: a change made while we
    // sync gets a later one and is seen next time.
    const changes = new LocalChanges(session, await session.notmuch.revision());
    for (const sel of selected) {
      checkCancel(options.signal);
      projects.push(await syncProject(new ProjectRun(session, sel.instance, sel.project, sel.list, options, changes)));
    }
    checkCancel(options.signal);
    await syncBundles(session, options, projects, changes.revision);
    if (!focused && !options.dryRun && !options.localOnly) rules = await syncRules(session, changes.revision);
    // Trailers read notmuch only: the post-new hook's --local-only sync runs them too.
    // A sync that tagged patch mail may have made new patch threads: then trailers read notmuch afresh.
    const retagged = projects.some((p) => p.retagged > 0);
    if (!focused && !options.dryRun) trailers = await syncTrailers(session, options, retagged ? undefined : changes.revision);
  } finally {
    lock?.release();
    if (!focused && --session.syncing === 0) session.claimed.clear();
    end();
  }
  const ok = !rules.rulesError && !trailers.trailersError && projects.every((p) => p.errors.length === 0 && p.refused.length === 0 && p.queued.length === 0 && p.ambiguous.length === 0);
  return { dryRun: Boolean(options.dryRun), durationMs: Math.round(performance.now() - started), projects, notmuchCalls: session.notmuch.calls - nmBefore, ok, ...rules, ...trailers };
}

/** The rules after the sync, on the mail it saw; a failure is reported, the sync's work stays. */
async function syncRules(session: Session, revision: Revision): Promise<Pick<SyncSummary, 'rules' | 'rulesError'>> {
  try {
    return { rules: await timeline.around('phase', 'rules', runRules(session, { revision })) };
  } catch (err) {
    if (!(err instanceof PwnmError) || err.code === 'CANCELLED') throw err;
    return { rulesError: err.message };
  }
}

/** Review trailers as tags, after the sync; a failure is reported, the sync's work stays. */
async function syncTrailers(session: Session, options: SyncOptions, revision: Revision | undefined): Promise<Pick<SyncSummary, 'trailers' | 'trailersError'>> {
  try {
    // The summary stays small (a first run retags thousands); each retagged message is an event, as the sync's own.
    let retagged = 0;
    const onChange = (c: TrailerChange): void => {
      retagged++;
      options.onMessage?.({ msgid: c.msgid, project: c.project, kind: 'retagged' });
    };
    const { mode, threads, notmuchCalls } = await timeline.around('phase', 'trailers', runTrailers(session, { onChange, ...(revision ? { revision } : {}) }));
    return { trailers: { mode, threads, notmuchCalls, retagged } };
  } catch (err) {
    if (!(err instanceof PwnmError) || err.code === 'CANCELLED') throw err;
    return { trailersError: err.message };
  }
}

/** One project's sync; a Patchwork or notmuch failure ends it and is reported, cancelling ends the whole sync. */
async function syncProject(run: ProjectRun): Promise<ProjectSummary> {
  const { session, summary } = run;
  const nmBefore = session.notmuch.calls;
  try {
    await pipeline(run);
  } catch (err) {
    run.writer.stop();
    if (!(err instanceof PwnmError) || err.code === 'CANCELLED' || err.code === 'SYNC_RUNNING') throw err;
    summary.errors.push(err.message);
  } finally {
    run.local.close();
    summary.httpRequests = run.client ? run.client.requests - run.requestsBefore : 0;
    summary.notmuchCalls = session.notmuch.calls - nmBefore;
  }
  return summary;
}

async function pipeline(run: ProjectRun): Promise<void> {
  const row = await projectRow(run);
  run.suffixes = suffixMap(run.session.store.knownStates(run.inst.name, run.project));
  const phase = (what: string, work: Promise<void>): Promise<void> => timeline.around('phase', `${run.project}: ${what}`, work);
  const mark = await timeline.around('phase', `${run.project}: read both sides`, readBothSides(run, row));
  await phase('tag mail not read yet', resolveUnseen(run));
  await phase('plan local changes', planLocalChanges(run));
  crashPoint('after-fetch');
  checkCancel(run.options.signal);
  await phase('push', runPushes(run));
  checkCancel(run.options.signal);
  await phase('last tag batches', run.writer.flush());
  record(run, row, mark);
  run.progress('done', 1, 1, `${run.project}: done`);
}

/** The project's stored row; a local-only run does not connect, a focused push only uses what is stored. */
function projectRow(run: ProjectRun): Promise<ProjectRow | undefined> | ProjectRow | undefined {
  if (run.options.localOnly) return run.session.store.project(run.inst.name, run.project);
  return connect(run, Boolean(run.options.messageIds));
}

function record(run: ProjectRun, row: ProjectRow | undefined, mark: SyncMark | undefined): void {
  if (!run.dryRun && row && mark) run.session.store.setMark(run.inst.name, run.project, mark);
}
