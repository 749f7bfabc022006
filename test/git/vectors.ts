import { execa } from 'execa';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RECORDINGS } from '../helpers.js';

// Commits whose diffs Patchwork itself hashed: the recorded hash vectors
// (test/fixtures/patchwork-3.1.3/hash-vectors.json hold diffs with the
// hash Patchwork 3.1.3 computed). A vector's diff is applied to a file
// rebuilt from its own context and removed lines, so `git log -p` gives
// back the same hunks, and the expected hash is Patchwork's, not ours.

export interface HashVector { id: number; msgid: string; hash: string | null; diff: string | null }

export const VECTORS: HashVector[] = JSON.parse(readFileSync(join(RECORDINGS, 'hash-vectors.json'), 'utf8')) as HashVector[];

export function vector(id: number): HashVector & { hash: string; diff: string } {
  const v = VECTORS.find((x) => x.id === id);
  if (!v?.diff || !v.hash) throw new Error(`no hash vector ${id} with a diff`);
  return v as HashVector & { hash: string; diff: string };
}

export const gitEnv = { GIT_AUTHOR_NAME: 'Dev', GIT_AUTHOR_EMAIL: 'dev@example.org', GIT_COMMITTER_NAME: 'Maint', GIT_COMMITTER_EMAIL: 'maint@example.org', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };

interface FileDiff { path: string; oldMode?: string; hunks: { start: number; lines: string[] }[]; created: boolean }

function parse(diff: string): FileDiff[] {
  const files: FileDiff[] = [];
  let cur: FileDiff | undefined;
  let hunk: FileDiff['hunks'][number] | undefined;
  for (const line of diff.split('\n')) {
    const head = /^diff --git a\/(\S+) b\/\S+$/.exec(line);
    if (head) {
      cur = { path: head[1]!, hunks: [], created: false };
      files.push(cur);
      hunk = undefined;
      continue;
    }
    if (!cur) continue;
    if (/^new file mode/.test(line)) cur.created = true;
    const mode = /^old mode (\d+)$/.exec(line);
    if (mode) cur.oldMode = mode[1]!;
    const h = /^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@/.exec(line);
    if (h) {
      hunk = { start: Number(h[1]), lines: [] };
      cur.hunks.push(hunk);
    } else if (hunk && (line.startsWith(' ') || line.startsWith('-'))) hunk.lines.push(line.slice(1));
  }
  return files;
}

/** The file a diff was made against: its context and removed lines where the hunks say, filler between. */
function preimage(file: FileDiff): string {
  const lines: string[] = [];
  for (const h of file.hunks) {
    while (lines.length < h.start - 1) lines.push(`filler line ${lines.length + 1}`);
    lines.push(...h.lines);
  }
  return lines.length ? `${lines.join('\n')}\n` : 'content\n';
}

const git = (repo: string, ...args: string[]) => execa('git', args, { cwd: repo, env: { ...process.env, ...gitEnv } });

/** One commit in `repo` with the files the vectors' diffs were made against. */
export async function prepareVectors(repo: string, vectors: readonly (HashVector & { diff: string })[]): Promise<void> {
  for (const v of vectors) {
    for (const f of parse(v.diff)) {
      if (f.created) continue;
      const path = join(repo, f.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, preimage(f));
      if (f.oldMode) chmodSync(path, Number.parseInt(f.oldMode.slice(-3), 8));
    }
  }
  await git(repo, 'add', '-A');
  await git(repo, 'commit', '-q', '-m', 'the files the patches were made against');
}

/** Commit the vector's diff, applied as `git am` would; returns the commit. */
export async function commitVector(repo: string, v: HashVector & { diff: string }, message: string): Promise<string> {
  const patch = join(repo, '..', `vector-${v.id}.diff`);
  writeFileSync(patch, v.diff);
  await git(repo, 'apply', '--index', patch);
  await git(repo, 'commit', '-q', '-m', message);
  return (await git(repo, 'rev-parse', 'HEAD')).stdout.trim();
}
