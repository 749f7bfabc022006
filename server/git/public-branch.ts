import { execa } from 'execa';
import { PwnmError } from '../errors.js';

// Is a commit public yet? `thanks` waits until a commit is on the public
// branch (as b4 ty does since 0.16): `git branch -r --contains` against the
// remote-tracking branch, as the user's last `git fetch` left it; else
// against the branch's tip on the remote now (`git ls-remote`), for a push
// made from another clone that was not fetched here.

export interface CommitInfo { sha: string; subject: string; public: boolean }

const git = async (repo: string, args: string[], timeout?: number): Promise<{ ok: boolean; stdout: string; stderr: string }> => {
  try {
    // No prompt for a password: a remote that wants one answers "no".
    const r = await execa('git', ['-C', repo, ...args], { reject: false, stdin: 'ignore', env: { GIT_TERMINAL_PROMPT: '0' }, ...(timeout ? { timeout } : {}) });
    return { ok: r.exitCode === 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') throw new PwnmError('USAGE', 'git not found: install it (apt-get install git)');
    throw err;
  }
};

/** Check that `branch` (REMOTE/BRANCH) is a remote-tracking branch of `repo`. */
export async function checkBranch(repo: string, branch: string): Promise<void> {
  const r = await git(repo, ['rev-parse', '--verify', '--quiet', `refs/remotes/${branch}`]);
  if (!r.ok) throw new PwnmError('USAGE', `${repo} has no remote-tracking branch ${branch}; run git fetch there, or name the public branch with --branch REMOTE/BRANCH`);
}

/** The tip of `branch` (REMOTE/BRANCH) on the remote now, asked once however often called; undefined when it does not answer. */
export function remoteTip(repo: string, branch: string): () => Promise<string | undefined> {
  let tip: Promise<string | undefined> | undefined;
  const slash = branch.indexOf('/');
  const ask = async (): Promise<string | undefined> => {
    const r = await git(repo, ['ls-remote', '--', branch.slice(0, slash), `refs/heads/${branch.slice(slash + 1)}`], 30_000);
    return r.ok ? /^[0-9a-f]{40,64}/.exec(r.stdout)?.[0] : undefined;
  };
  return () => (tip ??= ask());
}

/**
 * Each commit's subject and whether `branch` contains it; undefined for a commit `repo` does not have.
 * With `tip`, a commit the remote-tracking branch lacks is also public when the remote's tip now
 * (a commit this repository has) contains it.
 */
export async function commitInfo(repo: string, branch: string, sha: string, tip?: () => Promise<string | undefined>): Promise<CommitInfo | undefined> {
  const subject = await git(repo, ['show', '-s', '--format=%H%x00%s', `${sha}^{commit}`, '--']);
  if (!subject.ok) return undefined;
  const [full, text] = subject.stdout.split('\0');
  const on = await git(repo, ['branch', '-r', '--contains', full!, '--list', branch]);
  if (on.ok && on.stdout.trim() !== '') return { sha: full!, subject: text ?? '', public: true };
  const now = await tip?.();
  const onRemote = now !== undefined && (await git(repo, ['merge-base', '--is-ancestor', full!, now])).ok;
  return { sha: full!, subject: text ?? '', public: onRemote };
}
