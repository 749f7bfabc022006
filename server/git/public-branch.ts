import { execa } from 'execa';
import { PwnmError } from '../errors.js';

// Is a commit public yet? `thanks` waits until a commit is on the public
// branch (as b4 ty does since 0.16): `git branch -r --contains` against the
// remote-tracking branch, as the user's last `git fetch` left it.

export interface CommitInfo { sha: string; subject: string; public: boolean }

const git = async (repo: string, args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> => {
  try {
    const r = await execa('git', ['-C', repo, ...args], { reject: false });
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

/** Each commit's subject and whether `branch` contains it; undefined for a commit `repo` does not have. */
export async function commitInfo(repo: string, branch: string, sha: string): Promise<CommitInfo | undefined> {
  const subject = await git(repo, ['show', '-s', '--format=%H%x00%s', `${sha}^{commit}`, '--']);
  if (!subject.ok) return undefined;
  const [full, text] = subject.stdout.split('\0');
  const on = await git(repo, ['branch', '-r', '--contains', full!, '--list', branch]);
  return { sha: full!, subject: text ?? '', public: on.ok && on.stdout.trim() !== '' };
}
