import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { ROOT } from '../helpers.js';

// A real Patchwork for the tests in test/real, of the version
// PATCHWORK_VERSION names (3.1.3 unless set; scripts/test-real runs the
// suite once per version): Debian's Django and DRF, our settings module,
// sqlite in a temp dir, gunicorn with 2 sync workers on a free loopback
// port. Started on first use, shared by every real test file of the mocha
// run, stopped by a root `after` hook.

/** Debian's python: a pyenv python3 may come first on PATH and lack Django. */
export const PYTHON = '/usr/bin/python3';
/** The versions the suite knows, oldest first: each release, and main at one commit. */
export const PATCHWORK_VERSIONS = ['3.1.3', '3.2.1', 'main'] as const;
export type PatchworkVersion = (typeof PATCHWORK_VERSIONS)[number];
/** The main commit the suite runs (API 1.4); its tarball is patchwork-main-644cef7.tar.gz. */
const MAIN_COMMIT = '644cef7cd369abd39eba9523f8ecbc16d2ea4206';
/** The REST API version each serves. */
export const API_OF: Record<PatchworkVersion, string> = { '3.1.3': '1.3', '3.2.1': '1.3', main: '1.4' };

/** The version this mocha run is for: PATCHWORK_VERSION, else the oldest. */
export function runVersion(env: NodeJS.ProcessEnv = process.env): PatchworkVersion {
  const v = env.PATCHWORK_VERSION ?? '3.1.3';
  if (!(PATCHWORK_VERSIONS as readonly string[]).includes(v)) throw new Error(`PATCHWORK_VERSION=${v} is none of ${PATCHWORK_VERSIONS.join(', ')}`);
  return v as PatchworkVersion;
}
const VERSION = runVersion();
const VENDOR = join(ROOT, '..', 'shared', 'vendor');
/** The vendored tarball of a version, if there is one. */
export function vendoredTarball(version: PatchworkVersion): string | undefined {
  const name = version === 'main' ? `patchwork-main-${MAIN_COMMIT.slice(0, 7)}.tar.gz` : `patchwork-${version}.tar.gz`;
  return existsSync(join(VENDOR, name)) ? join(VENDOR, name) : undefined;
}
const GIT_URL = 'https://github.com/getpatchwork/patchwork';
const OURS = join(ROOT, 'test', 'real', 'patchwork');
const CACHE = join(ROOT, 'node_modules', '.cache', 'pwnm-sync');
export const HOW_TO_ENABLE = `set PATCHWORK_SRC to a Patchwork ${VERSION} source directory or tarball (or put it in ../shared/vendor/), and run scripts/setup test`;

export interface RealUser { id: number; username: string; email: string; token: string }

/** The submitter of some generated mails, as a registered user. */
export const SUBMITTER = { username: 'grace', name: 'Grace Patchsender', email: 'grace@example.org' } as const;

export interface RealPatchwork {
  /** Which Patchwork this is, and the newest REST API version it serves. */
  version: PatchworkVersion;
  api: string;
  url: string;
  maint: RealUser;
  submitter: RealUser;
  plain: RealUser;
  /** Run one admin.py command (Django ORM in a long-lived process). */
  admin<T>(cmd: string, args?: Record<string, unknown>): Promise<T>;
  /** gunicorn's log so far. */
  log(): string;
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const isSource = (dir: string): boolean => existsSync(join(dir, 'manage.py')) && existsSync(join(dir, 'patchwork', 'parser.py'));

/** Extract a `git archive` tarball into the cache once; the cache key is its hash. */
async function extract(tarball: string): Promise<string> {
  const dest = join(CACHE, `patchwork-${(await sha256(tarball)).slice(0, 16)}`);
  if (isSource(dest)) return dest;
  mkdirSync(CACHE, { recursive: true });
  const tmp = mkdtempSync(join(CACHE, 'extract-'));
  try {
    await execa('tar', ['xzf', tarball, '-C', tmp, '--strip-components=1']);
    if (!isSource(tmp)) throw new Error(`${tarball} holds no Patchwork source`);
    rmSync(dest, { recursive: true, force: true });
    renameSync(tmp, dest);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dest;
}

/** PATCHWORK_SRC, else ../shared/vendor's tarball, else a shallow clone; why not, otherwise. */
export async function findSource(env: NodeJS.ProcessEnv = process.env): Promise<{ dir: string } | { why: string }> {
  const given = env.PATCHWORK_SRC;
  if (given) {
    if (!existsSync(given)) return { why: `PATCHWORK_SRC=${given} does not exist` };
    if (statSync(given).isDirectory()) return isSource(given) ? { dir: given } : { why: `PATCHWORK_SRC=${given} holds no Patchwork source` };
    return { dir: await extract(given) };
  }
  const vendored = vendoredTarball(VERSION);
  if (vendored) return { dir: await extract(vendored) };
  const cloned = join(CACHE, `patchwork-${VERSION}-git`);
  if (isSource(cloned)) return { dir: cloned };
  mkdirSync(CACHE, { recursive: true });
  const gitEnv = { GIT_TERMINAL_PROMPT: '0' };
  const r = VERSION === 'main'
    ? await execa('sh', ['-c', 'git init -q "$1" && git -C "$1" fetch -q --depth 1 "$2" "$3" && git -C "$1" checkout -q FETCH_HEAD', 'sh', cloned, GIT_URL, MAIN_COMMIT], { reject: false, timeout: 30_000, env: gitEnv })
    : await execa('git', ['clone', '--quiet', '--depth', '1', '--branch', `v${VERSION}`, GIT_URL, cloned], { reject: false, timeout: 30_000, env: gitEnv });
  if (r.exitCode === 0 && isSource(cloned)) return { dir: cloned };
  rmSync(cloned, { recursive: true, force: true });
  return { why: `no Patchwork ${VERSION} source (no PATCHWORK_SRC, no ../shared/vendor tarball, git clone failed)` };
}

/** Django, DRF, django-filter and gunicorn importable by Debian's python? */
async function missingPython(): Promise<string | undefined> {
  const r = await execa(PYTHON, ['-c', 'import django, rest_framework, django_filters, gunicorn'], { reject: false });
  return r.exitCode === 0 ? undefined : `${PYTHON} cannot import Django, DRF, django-filter or gunicorn (${r.stderr.split('\n').pop()})`;
}

/** The admin process: one JSON request a line, answered in order. */
function startAdmin(env: NodeJS.ProcessEnv): { call: RealPatchwork['admin']; child: ChildProcessWithoutNullStreams } {
  const child = spawn(PYTHON, [join(OURS, 'admin.py')], { env });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const answer = JSON.parse(line) as { ok?: unknown; error?: string };
    const w = waiting.shift()!;
    if (answer.error !== undefined) w.reject(new Error(`admin.py: ${answer.error}`));
    else w.resolve(answer.ok);
  });
  child.on('exit', (code) => { for (const w of waiting.splice(0)) w.reject(new Error(`admin.py exited ${code}: ${stderr}`)); });
  const call = <T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> => new Promise<T>((resolve, reject) => {
    waiting.push({ resolve: resolve as (v: unknown) => void, reject });
    child.stdin.write(`${JSON.stringify({ cmd, ...args })}\n`);
  });
  return { call, child };
}

function waitExit(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

interface Running extends RealPatchwork { stop(): Promise<void> }

async function start(src: string): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'pwnm-real-'));
  const env: NodeJS.ProcessEnv = {
    PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', PYTHONPATH: `${src}:${OURS}`, PYTHONDONTWRITEBYTECODE: '1',
    DJANGO_SETTINGS_MODULE: 'pwnm_real_settings', PWNM_REAL_DB: join(dir, 'patchwork.sqlite3'),
  };
  const admin = startAdmin(env);
  const gunicorn: { child?: ChildProcessWithoutNullStreams; log: string } = { log: '' };
  const stop = async (): Promise<void> => {
    admin.child.stdin.end();
    if (gunicorn.child) { gunicorn.child.kill('SIGTERM'); await waitExit(gunicorn.child); }
    await waitExit(admin.child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await admin.call('migrate');
    const users = await admin.call<{ maint: RealUser; submitter: RealUser; plain: RealUser }>('users', { submitter: SUBMITTER });
    const child = spawn(PYTHON, ['-m', 'gunicorn', '--workers', '2', '--worker-class', 'sync', '--bind', '127.0.0.1:0', '--chdir', src,
      '--access-logfile', '-', '--error-logfile', '-', 'pwnm_real_wsgi'], { env });
    gunicorn.child = child;
    const port = await new Promise<number>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        gunicorn.log += d.toString();
        const m = /Listening at: http:\/\/127\.0\.0\.1:(\d+)/.exec(gunicorn.log);
        if (m) resolve(Number(m[1]));
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`gunicorn exited ${code}:\n${gunicorn.log}`)));
    });
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) { // both workers boot in about a second
      const r = await fetch(`${url}/api/1.3/`).catch(() => undefined);
      if (r?.status === 200) break;
      if (i > 200) throw new Error(`Patchwork never answered on ${url}:\n${gunicorn.log}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { version: VERSION, api: API_OF[VERSION], url, ...users, admin: admin.call, log: () => gunicorn.log, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

let running: Promise<Running | undefined> | undefined;

/**
 * The shared real Patchwork, started on first call; undefined (after one
 * line saying how to enable it) when it cannot run here. Under CI=true
 * that is an error instead.
 */
export function realPatchwork(): Promise<RealPatchwork | undefined> {
  running ??= (async () => {
    const found = await findSource();
    const why = 'why' in found ? found.why : await missingPython();
    if (why) {
      if (process.env.CI === 'true') throw new Error(`real Patchwork ${VERSION} suite cannot run under CI: ${why}`);
      if (process.env.PWNM_REAL_SKIPPED) writeFileSync(process.env.PWNM_REAL_SKIPPED, why);
      console.log(`      real Patchwork ${VERSION} suite skipped: ${why}; to run it, ${HOW_TO_ENABLE}`);
      return undefined;
    }
    return start((found as { dir: string }).dir);
  })();
  return running;
}

/** Stop the shared real Patchwork, if it started; `failed` prints gunicorn's log first. */
export async function stopRealPatchwork(failed: boolean): Promise<void> {
  const pw = running && (await running.catch(() => undefined));
  running = undefined;
  if (!pw) return;
  if (failed) console.error(`\n--- gunicorn log (real Patchwork ${pw.version}), last 100 lines ---\n${pw.log().split('\n').slice(-100).join('\n')}\n---`);
  await pw.stop();
}
