import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { PwnmError } from '../errors.js';
import { notmuchMessageId } from '../mail/message-id.js';
import type { PwPatch } from '../patchwork/types.js';
import { dependencyChain } from '../patchwork/dependencies.js';
import type { Session } from '../session.js';
import type { PatchRow } from '../store/store.js';
import { askFiltered, findPatches, messageIdOf, refreshPatches } from '../ops/lookup.js';
import { setStateOfRows, type SetStateResult } from '../ops/set-state.js';

// `pwnm-sync apply MESSAGE-ID`: download the patch's (or its series') mbox
// from Patchwork, with the trailers replies collected, and `git am` it into
// a repository, one patch at a time so that a cancel can stop between two.
// A conflict leaves the repository in git am's own state with the rest of the
// series queued, as a plain `git am` of the whole mbox would.

export interface ApplyOptions {
  /** What to apply: the patch (or series) of this message, or else the bundle called `bundle`. */
  messageId?: string;
  bundle?: string;
  /** The whole series of the message (a cover letter always means its series). */
  series?: boolean;
  /** With the series: first the series it depends on (Depends-on:), each once, in order; implies `series`. */
  deps?: boolean;
  /** Default: the project's `repo` setting, else the current directory. */
  repo?: string;
  threeWay?: boolean;
  /** Set this state on Patchwork after a clean apply. */
  state?: string;
  /** Only check that it applies, on a temporary worktree. */
  dryRun?: boolean;
  project?: string;
  signal?: AbortSignal;
  onProgress?: (p: ApplyProgress) => void;
}

export interface ApplyProgress {
  project: string;
  /** 1-based place of the patch in the mbox. */
  index: number;
  total: number;
  messageId: string | null;
  subject: string;
  phase: 'applying' | 'applied' | 'checking' | 'checked' | 'failed';
}

export interface AppliedPatch { messageId: string | null; subject: string; outcome: 'applied' | 'checked' | 'failed' | 'not applied'; commit?: string }

export interface ApplyResult {
  /** applied: all in; checked: --dry-run found they apply; conflict: stopped at `failed`; cancelled: rolled back. */
  outcome: 'applied' | 'checked' | 'conflict' | 'cancelled';
  instance: string;
  project: string;
  repo: string;
  what: 'patch' | 'series' | 'bundle';
  seriesId: number | null;
  mboxUrl: string;
  /** Where the mbox is kept until an apply succeeds; null once removed. */
  mboxFile: string | null;
  patches: AppliedPatch[];
  failed?: { index: number; messageId: string | null; subject: string };
  /** What happened and what to do next, for people. */
  message: string;
  /** git's own output. */
  output: string;
  /** With `state`: the set-state outcome per patch. */
  states: SetStateResult[];
}

interface Target {
  instance: string; project: string; what: 'patch' | 'series' | 'bundle'; id: number; seriesId: number | null; mboxUrl: string; note?: string;
  /** The mbox needs the token: a private bundle's does. */
  auth?: boolean;
}

interface SeriesDetail { id: number; mbox: string; total: number; received_all: boolean; patches: { id: number; msgid: string }[] }
type PatchDetail = PwPatch & { series?: { id: number; mbox?: string }[] };

interface Git { ok: boolean; out: string }

async function git(repo: string, args: string[]): Promise<Git> {
  try {
    const r = await execa('git', ['-C', repo, ...args], { reject: false, all: true, stdin: 'ignore', env: { GIT_TERMINAL_PROMPT: '0' } });
    return { ok: r.exitCode === 0, out: String(r.all ?? '') };
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') throw new PwnmError('GIT', 'git not found: install it (apt-get install git)');
    throw err;
  }
}

const short = (sha: string): string => sha.slice(0, 12);

/** The repository's top level: --repo, the project's `repo` setting, else the current directory. */
async function repoRoot(session: Session, project: string, given: string | undefined): Promise<string> {
  const configured = session.config.instances.flatMap((i) => i.projects).find((p) => p.linkName === project)?.repo;
  const dir = given ?? configured ?? process.cwd();
  if (!existsSync(dir)) throw new PwnmError('GIT', `${dir} does not exist; give --repo DIR or set repo in [project ${project}]`);
  const r = await git(dir, ['rev-parse', '--show-toplevel']);
  if (!r.ok) throw new PwnmError('GIT', `${dir} is not a git repository; give --repo DIR or set repo = DIR in [project ${project}] of the config`);
  return r.out.trim();
}

async function gitPath(repo: string, name: string): Promise<string> {
  const p = (await git(repo, ['rev-parse', '--git-path', name])).out.trim();
  return p.startsWith('/') ? p : join(repo, p);
}

async function amInProgress(repo: string): Promise<boolean> {
  return existsSync(join(await gitPath(repo, 'rebase-apply'), 'applying'));
}

/** Refuse what git am would trip over, naming the command that fixes it. */
export async function checkReady(repo: string): Promise<void> {
  const path = (name: string): Promise<string> => gitPath(repo, name);
  const rebaseApply = await path('rebase-apply');
  if (await amInProgress(repo)) {
    throw new PwnmError('GIT', `a git am is already in progress in ${repo}: finish it (resolve, git add, then git am --continue), or give it up with git am --abort`, { details: { repo, inProgress: 'am' } });
  }
  if (existsSync(rebaseApply) || existsSync(await path('rebase-merge'))) {
    throw new PwnmError('GIT', `a rebase is in progress in ${repo}: finish it with git rebase --continue, or give it up with git rebase --abort`, { details: { repo, inProgress: 'rebase' } });
  }
  for (const [head, what] of [['MERGE_HEAD', 'merge'], ['CHERRY_PICK_HEAD', 'cherry-pick'], ['REVERT_HEAD', 'revert']] as const) {
    if (existsSync(await path(head))) throw new PwnmError('GIT', `a ${what} is in progress in ${repo}: finish it with git ${what} --continue, or give it up with git ${what} --abort`, { details: { repo, inProgress: what } });
  }
  const status = await git(repo, ['status', '--porcelain', '--untracked-files=no']);
  if (!status.ok) throw new PwnmError('GIT', `git status failed in ${repo}: ${status.out.split('\n')[0]}`);
  const dirty = status.out.split('\n').filter(Boolean);
  if (dirty.length) {
    const files = dirty.slice(0, 5).map((l) => l.slice(3)).join(', ') + (dirty.length > 5 ? `, and ${dirty.length - 5} more` : '');
    throw new PwnmError('GIT', `${repo} has uncommitted changes (${files}): commit them, or put them aside with git stash, then apply again`, { details: { repo, dirty: dirty.length } });
  }
}

/** Find what to apply: the message's patch, its series, a cover letter's series, or a bundle. */
async function resolveTarget(session: Session, options: ApplyOptions): Promise<Target> {
  if ((options.bundle === undefined) === (options.messageId === undefined)) throw new PwnmError('USAGE', 'apply takes a MESSAGE-ID or a bundle name, one of the two');
  if (options.bundle !== undefined) return bundleTarget(session, options.bundle, options);
  const msgid = messageIdOf(options.messageId!);
  let rows: PatchRow[];
  try {
    rows = await findPatches(session, msgid, options.project);
  } catch (err) {
    if (!(err instanceof PwnmError && err.code === 'NOT_FOUND')) throw err;
    const cover = await coverSeries(session, msgid, options.project);
    if (!cover) throw new PwnmError('NOT_FOUND', `no patch or cover letter with Message-ID ${msgid} on Patchwork (${session.select(options.project ? [options.project] : undefined).map((s) => s.project).join(', ')})`, { details: { msgid } });
    return cover;
  }
  if (rows.length > 1) {
    throw new PwnmError('USAGE', `${msgid} is a patch of several projects (${rows.map((r) => r.project).join(', ')}); say which with --project`);
  }
  const row = rows[0]!;
  const client = await session.client(session.instance(row.instance));
  const [patch] = (await refreshPatches<PatchDetail>(session, [row])) as [PatchDetail];
  const series = patch.series?.[0];
  const base = { instance: row.instance, project: row.project, seriesId: series?.id ?? null };
  if ((options.series || options.deps) && series) {
    const detail = await client.get<SeriesDetail>(`series/${series.id}`);
    return { ...base, what: 'series', id: series.id, mboxUrl: detail.mbox, ...incomplete(detail) };
  }
  if (!patch.mbox) throw new PwnmError('NOT_FOUND', `${row.instance}: patch ${row.patch_id} has no mbox URL`);
  return { ...base, what: 'patch', id: patch.id, mboxUrl: patch.mbox, ...(options.series ? { note: 'the patch belongs to no series; applying it alone' } : {}) };
}

/** A bundle's patches, in the bundle's order, as Patchwork's bundle mbox gives them. */
async function bundleTarget(session: Session, name: string, options: ApplyOptions): Promise<Target> {
  if (options.series || options.deps) throw new PwnmError('USAGE', 'a bundle is applied as it is: --series and --deps go with a MESSAGE-ID');
  const { findVisibleBundle } = await import('../ops/bundles.js');
  const b = await findVisibleBundle(session, name, options.project);
  if (b.count === 0) throw new PwnmError('NOT_FOUND', `${b.instance}: bundle ${name} (${b.project}) holds no patch`);
  return { instance: b.instance, project: b.project, what: 'bundle', id: b.id, seriesId: null, mboxUrl: b.mbox, auth: !b.public };
}

const incomplete = (s: SeriesDetail): { note?: string } => (s.received_all ? {} : { note: `series ${s.id} is incomplete on Patchwork: ${s.patches.length} of ${s.total} patches arrived` });

/** A cover letter's series (covers?msgid= needs API 1.2, as for patches). */
async function coverSeries(session: Session, msgid: string, project?: string): Promise<Target | undefined> {
  for (const sel of session.select(project ? [project] : undefined)) {
    const covers = await askFiltered<{ msgid: string; series?: { id: number }[] }>(session, sel, 'covers', { msgid });
    const series = covers?.find((c) => notmuchMessageId(c.msgid) === msgid)?.series?.[0];
    if (!series) continue;
    const detail = await (await session.client(sel.instance)).get<SeriesDetail>(`series/${series.id}`);
    return { instance: sel.instance.name, project: sel.project, what: 'series', id: series.id, seriesId: series.id, mboxUrl: detail.mbox, ...incomplete(detail) };
  }
  return undefined;
}

interface MboxPatch { file: string; messageId: string | null; subject: string }

/** Split with git's own mailsplit, as git am does, and read each mail's Subject and Message-Id. */
async function splitMbox(mbox: string, into: string): Promise<MboxPatch[]> {
  const r = await git(into, ['mailsplit', `-o${into}`, mbox]);
  if (!r.ok) throw new PwnmError('GIT', `git mailsplit could not read ${mbox}: ${r.out.split('\n')[0]}`);
  return readdirSync(into).filter((f) => /^\d+$/.test(f)).sort().map((name) => {
    const file = join(into, name);
    const head = readFileSync(file, 'utf8').split(/\n\n/, 1)[0]!.replace(/\n[ \t]+/g, ' ');
    const header = (key: string): string | undefined => new RegExp(`^${key}:[ \\t]*(.*)$`, 'im').exec(head)?.[1]?.trim();
    const id = header('Message-Id');
    return { file, messageId: id ? notmuchMessageId(id) : null, subject: header('Subject') ?? name };
  });
}

export async function applyPatches(session: Session, options: ApplyOptions): Promise<ApplyResult> {
  const target = await resolveTarget(session, options);
  const repo = await repoRoot(session, target.project, options.repo);
  if (!options.dryRun) await checkReady(repo);

  const client = await session.client(session.instance(target.instance));
  // --deps: the dependencies' mboxes go first, as one mbox, so that the apply is one series to git am.
  const deps = options.deps && target.what === 'series' ? await dependencyChain(client, target.id) : [];
  const text = (await Promise.all([...deps.map((d) => client.download(d.mbox)), client.download(target.mboxUrl, { auth: target.auth ?? false })])).join('\n');
  if (deps.length) target.note = [`after the series it depends on: ${deps.map((d) => `${d.id} "${d.name ?? ''}"`).join(', ')}`, target.note].filter(Boolean).join('; ');
  const keepDir = join(dirname(session.config.stateDb), 'mbox');
  mkdirSync(keepDir, { recursive: true });
  const mboxFile = join(keepDir, `${target.project}-${target.what}-${target.id}.mbox`);
  writeFileSync(mboxFile, text);

  const work = mkdtempSync(join(tmpdir(), 'pwnm-apply-'));
  try {
    const patches = await splitMbox(mboxFile, work);
    if (patches.length === 0) throw new PwnmError('NOT_FOUND', `the mbox of ${target.what} ${target.id} (${target.mboxUrl}) holds no patch`);
    const result: ApplyResult = {
      outcome: 'applied', instance: target.instance, project: target.project, repo, what: target.what, seriesId: target.seriesId,
      mboxUrl: target.mboxUrl, mboxFile, patches: patches.map((p) => ({ messageId: p.messageId, subject: p.subject, outcome: 'not applied' })),
      message: '', output: '', states: [],
    };
    const progress = (i: number, phase: ApplyProgress['phase']): void => options.onProgress?.({ project: target.project, index: i + 1, total: patches.length, messageId: patches[i]!.messageId, subject: patches[i]!.subject, phase });
    const note = target.note ? ` (${target.note})` : '';
    if (options.dryRun) {
      await dryRun(repo, patches, options.threeWay ?? false, result, progress);
      rmSync(mboxFile, { force: true });
      result.mboxFile = null;
      result.message = (result.outcome === 'checked'
        ? `all ${patches.length} patches apply to ${repo} (HEAD); nothing was changed`
        : `patch ${result.failed!.index}/${patches.length} "${result.failed!.subject}" would not apply to ${repo}; nothing was changed`) + note;
      return result;
    }
    await amEach(repo, patches, options, result, progress);
    if (result.outcome === 'applied') {
      rmSync(mboxFile, { force: true });
      result.mboxFile = null;
      if (options.state) result.states = await setStates(session, target, result.patches, options.state);
      result.message = `applied ${patches.length} patch${patches.length === 1 ? '' : 'es'} to ${repo}${options.state ? `; ${stateSummary(result.states, options.state)}` : ''}${note}`;
    }
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** `git am` one patch at a time; on a conflict, hand git am the rest so that --continue finishes the series. */
async function amEach(repo: string, patches: MboxPatch[], options: ApplyOptions, result: ApplyResult, progress: (i: number, phase: ApplyProgress['phase']) => void): Promise<void> {
  const am = ['am', ...(options.threeWay ? ['-3'] : [])];
  const start = (await git(repo, ['rev-parse', 'HEAD'])).out.trim();
  for (let i = 0; i < patches.length; i++) {
    if (options.signal?.aborted) {
      // Leave no half-applied series: back to where we started.
      if (i > 0) await git(repo, ['reset', '-q', '--keep', start]);
      result.outcome = 'cancelled';
      result.patches.forEach((p) => { p.outcome = 'not applied'; delete p.commit; });
      result.message = `cancelled after ${i} of ${patches.length} patches; ${repo} is back at ${short(start)} as before, and the mbox stays in ${result.mboxFile}`;
      return;
    }
    progress(i, 'applying');
    const r = await git(repo, [...am, patches[i]!.file]);
    result.output += r.out;
    if (r.ok) {
      result.patches[i]!.outcome = 'applied';
      result.patches[i]!.commit = (await git(repo, ['rev-parse', 'HEAD'])).out.trim();
      progress(i, 'applied');
      continue;
    }
    // Start this patch again with every patch after it, so that git am holds
    // the rest of the series, exactly as `git am series.mbox` would have.
    await git(repo, ['am', '--abort']);
    const rest = await git(repo, [...am, ...patches.slice(i).map((p) => p.file)]);
    result.output += rest.out;
    progress(i, 'failed');
    result.outcome = 'conflict';
    result.patches[i]!.outcome = 'failed';
    result.failed = { index: i + 1, messageId: patches[i]!.messageId, subject: patches[i]!.subject };
    const reason = r.out.split('\n').find((l) => /^error:|^Patch failed|does not apply|could not build fake ancestor/.test(l)) ?? r.out.split('\n')[0];
    const before = i === 0 ? 'nothing was applied before it' : `the ${i} before it are applied`;
    if (!(await amInProgress(repo))) {
      // git am gave up before it started (e.g. a mail it cannot read): nothing is pending.
      result.message = `patch ${i + 1}/${patches.length} "${patches[i]!.subject}" could not be applied (${reason}); ${before}, and no git am is in progress. The mbox stays in ${result.mboxFile}.`;
      return;
    }
    result.message = [
      `patch ${i + 1}/${patches.length} "${patches[i]!.subject}" does not apply (${reason}); ${before}.`,
      `${repo} is stopped in git am, as git am itself stops: resolve the conflict, git add the files, then git am --continue (the rest of the series follows);`,
      `or git am --skip to drop this patch, or git am --abort to stop here${i > 0 ? ` (git reset --keep ${short(start)} also drops the ${i} applied)` : ''}.`,
      `The mbox stays in ${result.mboxFile}.`,
    ].join('\n');
    return;
  }
}

/** `git apply --check` each patch on a temporary worktree of HEAD, applying it there so that the next sees it. */
async function dryRun(repo: string, patches: MboxPatch[], threeWay: boolean, result: ApplyResult, progress: (i: number, phase: ApplyProgress['phase']) => void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pwnm-check-'));
  const tree = join(dir, 'tree');
  try {
    const add = await git(repo, ['worktree', 'add', '--detach', '--quiet', tree, 'HEAD']);
    if (!add.ok) throw new PwnmError('GIT', `git worktree add failed in ${repo}: ${add.out.split('\n')[0]}`);
    const three = threeWay ? ['--3way'] : [];
    result.outcome = 'checked';
    for (let i = 0; i < patches.length; i++) {
      progress(i, 'checking');
      const check = await git(tree, ['apply', '--check', ...three, patches[i]!.file]);
      result.output += check.out;
      if (!check.ok) {
        progress(i, 'failed');
        result.outcome = 'conflict';
        result.patches[i]!.outcome = 'failed';
        result.failed = { index: i + 1, messageId: patches[i]!.messageId, subject: patches[i]!.subject };
        return;
      }
      await git(tree, ['apply', ...three, patches[i]!.file]);
      result.patches[i]!.outcome = 'checked';
      progress(i, 'checked');
    }
  } finally {
    await git(repo, ['worktree', 'remove', '--force', tree]);
    await git(repo, ['worktree', 'prune']);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** --state after a clean apply: the set-state code, for each applied patch of the target's project. */
async function setStates(session: Session, target: Target, applied: AppliedPatch[], state: string): Promise<SetStateResult[]> {
  const rows: PatchRow[] = [];
  for (const p of applied) {
    if (!p.messageId) continue;
    const found = await findPatches(session, p.messageId, target.project).catch(() => []);
    rows.push(...found.filter((r) => r.instance === target.instance));
  }
  return setStateOfRows(session, rows, state);
}

function stateSummary(states: SetStateResult[], state: string): string {
  const by = new Map<string, number>();
  for (const s of states) by.set(s.outcome, (by.get(s.outcome) ?? 0) + 1);
  return `state ${state}: ${[...by].map(([k, n]) => `${n} ${k}`).join(', ') || 'no patch found'}`;
}

export function formatApply(r: ApplyResult): string {
  const lines = r.patches.map((p, i) => `${p.outcome.padEnd(11)} ${i + 1}/${r.patches.length} ${p.subject}${p.commit ? ` (${short(p.commit)})` : ''}`);
  for (const s of r.states) if (s.reason) lines.push(`${s.outcome} ${s.msgid}: ${s.reason}`);
  lines.push(r.message);
  return lines.join('\n');
}
