import { PwnmError } from '../errors.js';
import { commitInfo, checkBranch, remoteTip, type CommitInfo } from '../git/public-branch.js';
import { notmuchMessageId } from './message-id.js';
import type { Selection } from '../ops/lookup.js';
import type { PwPatch } from '../patchwork/types.js';
import type { Session } from '../session.js';
import type { PatchRow } from '../store/store.js';
import { slugify } from '../tags.js';
import { acceptedPatches, recordThanks, startThanks, thanksStarted } from '../store/thanks.js';
import { composeReply, formatMessage, mboxEntry, type Reply } from './reply.js';

// `pwnm-sync thanks`: one "applied, thanks" reply per accepted series (to
// its cover letter, else its first patch) listing each patch's commit, once
// the commits are on the public branch. Written as notmuch drafts (or an
// mbox); never sent. What was thanked is remembered and tagged
// {prefix}-{project}-thanked. The first use in a project sets aside every
// patch accepted before it, so years of history are never thanked.

export interface ThanksOptions {
  project?: string;
  /** Also consider patches mailed on or after this day (YYYY-MM-DD) that the first use set aside. */
  since?: string;
  /** REMOTE/BRANCH; default the project's `branch`. */
  branch?: string;
  /** Default: the project's `repo`, else the current directory. */
  repo?: string;
  /** A repository per project, before `repo` (Emacs sends those it remembers). */
  repos?: Record<string, string>;
  dryRun?: boolean;
  /** Return the messages as an mbox instead of inserting drafts. */
  mbox?: boolean;
  /** The state that means applied (as accept-from-git --state); default accepted. */
  state?: string;
}

export interface ThankedPatch { msgid: string; name: string; commit: string; subject: string; url?: string }

export interface ThanksDraft {
  project: string;
  /** The message replied to: the cover letter, else the first patch. */
  replyTo: string;
  reply: Reply;
  patches: ThankedPatch[];
  /** The Message-ID of the draft written (not with --dry-run or --mbox). */
  draftId?: string;
}

export interface ThanksResult {
  drafts: ThanksDraft[];
  heldBack: { project: string; msgid: string; name: string; reason: string }[];
  /** Projects used for the first time: how many accepted patches were set aside as history. */
  setAside: { project: string; count: number }[];
  /** With `mbox`: every reply, as one mbox. */
  mbox?: string;
}

/** The folder notmuch-emacs saves its drafts in (`notmuch-draft-folder`'s default), and its tag. */
const DRAFTS_FOLDER = 'drafts';
const DRAFT_TAGS = ['draft'];

export function commitUrl(template: string | undefined, sha: string): string | undefined {
  return template?.replace(/%H/g, sha).replace(/%h/g, sha.slice(0, 12));
}

export async function thanks(session: Session, options: ThanksOptions = {}): Promise<ThanksResult> {
  if (options.since && !/^\d{4}-\d{2}-\d{2}$/.test(options.since)) throw new PwnmError('USAGE', `--since "${options.since}" is not a date; write it as YYYY-MM-DD`);
  const result: ThanksResult = { drafts: [], heldBack: [], setAside: [] };
  for (const sel of session.select(options.project ? [options.project] : undefined)) await thankProject(session, sel, options, result);
  if (options.mbox) result.mbox = result.drafts.map((d) => mboxEntry(formatMessage(d.reply))).join('');
  return result;
}

async function thankProject(session: Session, sel: Selection, options: ThanksOptions, result: ThanksResult): Promise<void> {
  const { instance, project } = sel;
  const settings = instance.projects.find((p) => p.linkName === project)!;
  const branch = options.branch ?? settings.branch;
  if (!branch) throw new PwnmError('USAGE', `thanks needs the public branch of ${project}: give --branch REMOTE/BRANCH, or branch = origin/main in [project ${project}]`);
  const repo = options.repos?.[project] ?? options.repo ?? settings.repo ?? process.cwd();
  const store = session.store;
  const since = options.since;
  const recent = (row: PatchRow): boolean => since !== undefined && (row.date ?? '') >= since;
  const accepted = slugify(options.state ?? 'accepted');
  const rows = acceptedPatches(store, instance.name, project, accepted);

  // First use: set aside what was accepted before (unless --since names it).
  if (!thanksStarted(store, instance.name, project)) {
    const history = rows.filter((r) => !recent(r));
    result.setAside.push({ project, count: history.length });
    if (!options.dryRun) {
      recordThanks(store, instance.name, project, history.map((r) => ({ msgid: r.msgid, status: 'history' })));
      startThanks(store, instance.name, project, new Date().toISOString());
    }
    for (const r of history) r.thanks = 'history';
  }
  const candidates = rows.filter((r) => r.thanks === null || (r.thanks === 'history' && recent(r)));
  if (candidates.length === 0) return;
  await checkBranch(repo, branch);
  const tip = remoteTip(repo, branch);

  for (const group of bySeries(candidates)) {
    const held = (row: PatchRow, reason: string) => result.heldBack.push({ project, msgid: row.msgid, name: row.name ?? '', reason });
    // Patchwork knows the commit (commit_ref) and whether it is still accepted.
    const client = await session.client(sel.instance);
    const now = await Promise.all(group.map((row) => client.get<PwPatch>(`patches/${row.patch_id}`)));
    const commits: (CommitInfo | undefined)[] = [];
    let ready = true;
    for (const [i, row] of group.entries()) {
      const patch: PwPatch = now[i]!;
      if (patch.state !== accepted) { held(row, `now ${patch.state} on Patchwork`); ready = false; continue; }
      const sha = patch.commit_ref?.trim();
      if (!sha) { held(row, 'Patchwork has no commit for it (commit_ref): accept it with accept-from-git'); ready = false; continue; }
      const info = await commitInfo(repo, branch, sha, tip);
      if (!info) held(row, `commit ${sha.slice(0, 12)} is not in ${repo}: git fetch there`);
      else if (!info.public) held(row, `commit ${sha.slice(0, 12)} is not on ${branch} yet`);
      ready &&= Boolean(info?.public);
      commits.push(info);
    }
    // A series is thanked for once, when every accepted patch of it is public.
    if (!ready) continue;
    const target = await replyTarget(session, sel, group);
    const headers = await session.notmuch.replyTo(target);
    if (!headers) { for (const row of group) held(row, `the mail ${target} is not in notmuch`); continue; }
    const patches = group.map((row, i) => ({ msgid: row.msgid, name: row.name ?? '', commit: commits[i]!.sha, subject: commits[i]!.subject, ...opt(commitUrl(settings.commitUrl, commits[i]!.sha)) }));
    const draft: ThanksDraft = { project, replyTo: target, reply: composeReply(headers, thanksBody(branch, patches)), patches };
    if (!options.dryRun) await writeDraft(session, sel, draft, Boolean(options.mbox));
    result.drafts.push(draft);
  }
}

const opt = (url: string | undefined): { url?: string } => (url ? { url } : {});

/** Accepted patches grouped by series (a patch without one is its own), in series order. */
function bySeries(rows: readonly PatchRow[]): PatchRow[][] {
  const groups = new Map<string, PatchRow[]>();
  for (const row of rows) {
    const key = row.series_id === null ? `patch ${row.msgid}` : `series ${row.series_id}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  return [...groups.values()];
}

/** The series' cover letter, else its first patch (the lowest part we hold). */
async function replyTarget(session: Session, sel: Selection, group: readonly PatchRow[]): Promise<string> {
  const first = group[0]!;
  if (first.series_id === null) return first.msgid;
  const client = await session.client(sel.instance);
  const series = await client.get<{ cover_letter: { msgid: string } | null; patches?: { msgid: string }[] }>(`series/${first.series_id}`);
  if (series.cover_letter) return notmuchMessageId(series.cover_letter.msgid);
  return series.patches?.[0] ? notmuchMessageId(series.patches[0].msgid) : first.msgid;
}

/** As b4 ty and kernel.org's bot write it: where it went, then each patch with its commit. */
export function thanksBody(branch: string, patches: readonly ThankedPatch[]): string {
  const what = patches.length > 1 ? 'This series was' : 'This patch was';
  const lines = [`Hello,`, '', `${what} applied to ${branch}, thanks!`, ''];
  for (const p of patches) {
    lines.push(`  - ${p.name}`, `    commit ${p.commit.slice(0, 12)} ("${p.subject}")`);
    if (p.url) lines.push(`    ${p.url}`);
  }
  lines.push('');
  return lines.join('\n');
}

/** Insert the draft (unless an mbox was asked for), then remember and tag its patches. */
async function writeDraft(session: Session, sel: Selection, draft: ThanksDraft, mbox: boolean): Promise<void> {
  if (!mbox) {
    const message = formatMessage(draft.reply);
    await session.notmuch.insert(message, DRAFTS_FOLDER, DRAFT_TAGS);
    draft.draftId = /^Message-ID: <([^>]+)>$/m.exec(message)![1]!;
  }
  recordThanks(session.store, sel.instance.name, sel.project, draft.patches.map((p) => ({ msgid: p.msgid, status: 'thanked', commit: p.commit })));
  const tag = session.scheme.mail(sel.project, 'thanked');
  await session.notmuch.tag(draft.patches.map((p) => ({ msgid: p.msgid, add: [tag], remove: [] })));
}

export function formatThanks(r: ThanksResult): string {
  const lines: string[] = [];
  for (const s of r.setAside) lines.push(`${s.project}: first use of thanks; ${s.count} patch${s.count === 1 ? '' : 'es'} accepted before it set aside (use --since YYYY-MM-DD to include some)`);
  for (const d of r.drafts) {
    lines.push(`${d.draftId ? 'draft' : 'would write'}: ${d.reply.subject} (to ${d.reply.to}; ${d.patches.length} patch${d.patches.length === 1 ? '' : 'es'})${d.draftId ? ` id:${d.draftId}` : ''}`);
  }
  for (const h of r.heldBack) lines.push(`held back: ${h.name || h.msgid}: ${h.reason}`);
  lines.push(`${r.drafts.length} repl${r.drafts.length === 1 ? 'y' : 'ies'}, ${r.heldBack.length} patch${r.heldBack.length === 1 ? '' : 'es'} held back`);
  return lines.join('\n');
}
