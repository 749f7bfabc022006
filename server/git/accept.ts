import { execa } from 'execa';
import { PwnmError } from '../errors.js';
import { notmuchMessageId } from '../notmuch/encoding.js';
import { slugify } from '../patchwork/client.js';
import { hashDiff } from '../patchwork/hash.js';
import type { PwPatch } from '../patchwork/types.js';
import type { Session } from '../session.js';
import type { PatchRow } from '../store/store.js';
import { toRemote } from '../patchwork/remote.js';
import { findPatches, pushState } from '../sync/set-state.js';
import { mapLimit } from '../util.js';

// `pwnm-sync accept-from-git REV-RANGE`: for each commit, find the patch it
// came from (Patchwork's diff hash first, then the message-id of a Link: or
// Message-Id: trailer) and set its state (accepted) and commit_ref.

export interface Commit { sha: string; subject: string; body: string; diff: string }

/**
 * Patchwork's hash of a diff with no hunks (a mode change, a pure rename,
 * an empty new file): the SHA-1 of nothing. Real instances hold many
 * patches with it, so it never identifies one.
 */
export const EMPTY_DIFF_HASH = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';

export interface AcceptOptions {
  repo: string;
  range: string;
  project?: string;
  state?: string;
  dryRun?: boolean;
}

export interface AcceptMatch { commit: string; subject: string; project: string; patchId: number; msgid: string; via: 'hash' | 'msgid'; outcome: string; reason?: string }

export interface AcceptResult {
  matched: AcceptMatch[];
  unmatched: { commit: string; subject: string }[];
  ambiguous: { commit: string; subject: string; patchIds: number[] }[];
}

/** Every non-merge commit of RANGE, oldest first, with message and diff: one git process. */
export async function readCommits(repo: string, range: string): Promise<Commit[]> {
  let out: string;
  try {
    ({ stdout: out } = await execa('git', ['-C', repo, 'log', '--reverse', '--no-merges', '--no-color', '--no-ext-diff', '-p', '--format=%x01%H%x02%s%x02%B%x03', range, '--'], { maxBuffer: 1024 * 1024 * 1024 }));
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new PwnmError('USAGE', 'git not found: install it (apt-get install git)');
    throw new PwnmError('USAGE', `git log ${range} in ${repo} failed: ${String(e.stderr ?? '').split('\n')[0]}`);
  }
  return out.split('\x01').filter(Boolean).map((chunk) => {
    const [head, diff = ''] = chunk.split('\x03');
    const [sha, subject, body] = head!.split('\x02');
    return { sha: sha!, subject: subject!, body: body ?? '', diff: diff.replace(/^\n+/, '') };
  });
}

/** The message-id a commit names in a `Link: .../<msgid>` or `Message-Id: <msgid>` trailer. */
export function trailerMessageId(body: string): string | undefined {
  const id = /^Message-Id:\s*<([^>\s]+)>\s*$/im.exec(body)?.[1];
  if (id) return id;
  for (const m of body.matchAll(/^Link:\s*(\S+)\s*$/gim)) {
    const last = decodeURIComponent(m[1]!.replace(/\/+$/, '').split('/').at(-1) ?? '');
    if (last.includes('@')) return last.replace(/^<|>$/g, '');
  }
  return undefined;
}

export async function acceptFromGit(session: Session, options: AcceptOptions): Promise<AcceptResult> {
  const state = slugify(options.state ?? 'accepted');
  const selected = session.select(options.project ? [options.project] : undefined);
  const inScope = (r: PatchRow): boolean => selected.some((s) => s.instance.name === r.instance && s.project === r.project);
  const commits = await readCommits(options.repo, options.range);
  const result: AcceptResult = { matched: [], unmatched: [], ambiguous: [] };

  // Patches by hash. Patchwork is asked whenever it can be (API 1.2+), even
  // when the state database knows one: a second patch with the same diff,
  // mailed before our epoch, makes the hash ambiguous.
  const byHash = async (hash: string): Promise<PatchRow[]> => {
    for (const sel of selected) {
      const client = await session.client(sel.instance);
      if ((await client.discover()) < '1.2') continue; // the filter is silently ignored before 1.2
      const found = await client.get<PwPatch[]>('patches', { project: sel.project, hash });
      if (found.length) session.store.upsertPatches(sel.instance.name, sel.project, found.filter((p) => p.hash === hash).map(toRemote));
    }
    return session.store.patchesByHash(hash).filter(inScope);
  };

  const plans = await mapLimit(commits, session.config.concurrency, async (commit) => {
    const hash = commit.diff.trim() ? hashDiff(commit.diff) : undefined;
    const trailer = trailerMessageId(commit.body);
    // The hash of a hunk-less diff (mode, rename) names no patch in particular.
    let rows = hash && hash !== EMPTY_DIFF_HASH ? await byHash(hash) : [];
    let via: 'hash' | 'msgid' = 'hash';
    // Two patches of one project with this diff: only a trailer can tell which.
    if (trailer && new Set(rows.map((r) => `${r.instance} ${r.project}`)).size < rows.length) {
      rows = rows.filter((r) => r.msgid === notmuchMessageId(trailer));
      via = 'msgid';
    }
    if (rows.length === 0 && trailer) {
      via = 'msgid';
      rows = await findPatches(session, trailer, options.project).catch((err: unknown) => {
        if (err instanceof PwnmError && err.code === 'NOT_FOUND') return [];
        throw err;
      });
    }
    return { commit, rows, via };
  });

  for (const { commit, rows, via } of plans) {
    const subject = commit.subject;
    if (rows.length === 0) {
      result.unmatched.push({ commit: commit.sha, subject });
      continue;
    }
    // One patch per project is a match (a patch cross-posted to two lists); more is ambiguous.
    const projects = new Set(rows.map((r) => `${r.instance} ${r.project}`));
    if (projects.size !== rows.length) {
      result.ambiguous.push({ commit: commit.sha, subject, patchIds: rows.map((r) => r.patch_id) });
      continue;
    }
    for (const row of rows) {
      const match = { commit: commit.sha, subject, project: row.project, patchId: row.patch_id, msgid: row.msgid, via };
      if (options.dryRun) {
        result.matched.push({ ...match, outcome: 'dry-run' });
        continue;
      }
      const r = await pushState(session, row, state, { commit_ref: commit.sha });
      result.matched.push({ ...match, outcome: r.outcome, ...(r.reason ? { reason: r.reason } : {}) });
    }
  }
  return result;
}

export function formatAccept(r: AcceptResult): string {
  const lines = [
    ...r.matched.map((m) => `${m.outcome.padEnd(9)} ${m.commit.slice(0, 12)} ${m.subject} -> ${m.project} patch ${m.patchId} (by ${m.via})${m.reason ? `: ${m.reason}` : ''}`),
    ...r.ambiguous.map((a) => `ambiguous ${a.commit.slice(0, 12)} ${a.subject} -> patches ${a.patchIds.join(', ')}: same diff; add a Link: trailer`),
    ...r.unmatched.map((u) => `unmatched ${u.commit.slice(0, 12)} ${u.subject}`),
  ];
  lines.push(`${r.matched.length} matched, ${r.ambiguous.length} ambiguous, ${r.unmatched.length} unmatched`);
  return lines.join('\n');
}
