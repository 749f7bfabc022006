import { execa } from 'execa';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The 2018-2020 Python pwnm-sync (GPL-3, never copied into this repo: its
// tarball is extracted to a temp dir at bench time) on the same snapshot as
// ours, and a probe that measures how long a concurrent `notmuch tag` waits
// for notmuch's write lock while a sync runs.

const PYTHON = '/usr/bin/python3';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const TARBALL = process.env.PWNM_ORIGINAL_TARBALL ?? join(ROOT, '..', 'shared', 'vendor', 'pwnm-sync-original-fa4f19d.tar.gz');

/** Why the original cannot run here, after installing its Debian packages when missing; undefined when it can. */
export async function originalMissing(): Promise<string | undefined> {
  if (!existsSync(TARBALL)) return `no ${TARBALL} (set PWNM_ORIGINAL_TARBALL)`;
  const modules = async (): Promise<boolean> => (await execa(PYTHON, ['-c', 'import notmuch, requests_futures'], { reject: false })).exitCode === 0;
  if (await modules()) return undefined;
  const root = process.getuid?.() === 0;
  await execa(root ? 'apt-get' : 'sudo', [...(root ? [] : ['-n', 'apt-get']), 'install', '-y', 'python3-notmuch', 'python3-requests-futures'], { reject: false, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return (await modules()) ? undefined : 'python3-notmuch or python3-requests-futures is missing and apt-get could not install them';
}

/** Run the original once on `maildir` (its own state database); returns its wall time in ms. */
export async function runOriginal(options: { maildir: string; url: string; token: string; project: string; list: string; env: NodeJS.ProcessEnv }): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'pwnm-original-'));
  try {
    await execa('tar', ['xzf', TARBALL, '-C', dir, '--strip-components=1']);
    const ini = join(dir, 'original.ini');
    writeFileSync(ini, `[Defaults]\nnotmuch_database = ${options.maildir}\nsyncdb = ${join(dir, 'sync.db')}\npatchwork_url = ${options.url}\npatchwork_token = ${options.token}\nsync = ${options.project}=${options.list}\n`, { mode: 0o600 });
    const t0 = performance.now();
    const r = await execa(PYTHON, [join(dir, 'pwnm-sync.py'), '-c', ini], { env: options.env, reject: false, all: true });
    const wallMs = performance.now() - t0;
    if (r.exitCode !== 0) throw new Error(`the original pwnm-sync exited ${r.exitCode}: ${String(r.all).slice(-2000)}`);
    return wallMs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * While `work` runs, toggle a tag on one message with `notmuch tag` every
 * 200 ms, as Emacs does on a key press, retrying while the write lock is
 * held; returns the longest time one change took, first try to success.
 */
export async function lockWait<T>(env: NodeJS.ProcessEnv, msgid: string, work: Promise<T>): Promise<{ result: T; longestMs: number; probes: number }> {
  let done = false;
  let longestMs = 0;
  let probes = 0;
  const probe = (async (): Promise<void> => {
    for (let on = true; !done; on = !on) {
      const t0 = performance.now();
      for (;;) {
        const r = await execa('notmuch', ['tag', on ? '+bench-probe' : '-bench-probe', '--', `id:${msgid}`], { env, reject: false });
        if (r.exitCode === 0 || done) break;
        await new Promise((res) => setTimeout(res, 20));
      }
      longestMs = Math.max(longestMs, performance.now() - t0);
      probes++;
      await new Promise((res) => setTimeout(res, 200));
    }
  })();
  try {
    const result = await work;
    done = true;
    await probe;
    return { result, longestMs, probes };
  } finally {
    done = true;
    await probe;
  }
}
