import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node.js';
import { loadConfig, type ConfigOverrides } from '../server/config.js';
import { idQuery } from '../server/notmuch/encoding.js';
import { Notmuch } from '../server/notmuch/notmuch.js';
import { generate } from '../server/sandbox/generator.js';
import type { SbProject, SbUser } from '../server/sandbox/model.js';
import { Sandbox } from '../server/sandbox/server.js';
import { Session, type SessionOptions } from '../server/session.js';

// Shared test fixtures: a sandbox Patchwork, a real notmuch database in a
// temp dir, and a pwnm-sync config pointing at both.

export const ROOT = new URL('..', import.meta.url).pathname.replace(/\/build\/$/, '/').replace(/\/$/, '');
export const CLI = join(ROOT, 'dist', 'cli.js');
/** A review tag read from the mail (server/mail/trailers.ts), not one of Patchwork's: tests of states leave them out. */
export const isMailTag = (tag: string): boolean => /-(acked|reviewed|tested|replied)$/.test(tag);
export const RECORDINGS = join(ROOT, 'test', 'fixtures', 'patchwork-3.1.3');

export interface TestEnv {
  dir: string;
  maildir: string;
  sandbox: Sandbox;
  maint: SbUser & { token: string };
  user: SbUser & { token: string };
  project: SbProject;
  env: NodeJS.ProcessEnv;
  configFile: string;
  notmuch: Notmuch;
  /** Write the config file; `instance` lines go into the [instance sandbox] section. */
  writeConfig(instance?: string, global?: string): string;
  session(options?: SessionOptions, overrides?: ConfigOverrides): Session;
  addMail(msgid: string, options?: { to?: string; subject?: string; date?: Date }): Promise<void>;
  tags(msgid: string): Promise<string[]>;
  cleanup(): Promise<void>;
}

let counter = 0;

export async function makeEnv(options: { patches?: number; token?: 'maint' | 'user' | 'none'; stateMix?: boolean } = {}): Promise<TestEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'pwnm-test-'));
  const sandbox = new Sandbox();
  await sandbox.start();
  const maint = sandbox.data.addUser({ username: 'maint', token: `maint-token-${++counter}-0123456789` }) as SbUser & { token: string };
  const user = sandbox.data.addUser({ username: 'user', token: `user-token-${counter}-0123456789` }) as SbUser & { token: string };
  const project = sandbox.data.addProject({ link_name: 'skiboot', list_email: 'skiboot@lists.ozlabs.org', maintainers: [maint.id] });
  const maildir = join(dir, 'mail');
  generate(sandbox.data, project, maildir, { patches: options.patches ?? 20, seed: 3, ...(options.stateMix === false ? { stateMix: false } : {}) });
  const notmuchConfig = join(dir, 'notmuch-config');
  writeFileSync(notmuchConfig, `[database]\npath=${maildir}\n[new]\ntags=inbox\n[user]\nname=Test\nprimary_email=test@example.org\n[search]\nexclude_tags=\n`);
  const env = { ...process.env, NOTMUCH_CONFIG: notmuchConfig, HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg-config'), XDG_STATE_HOME: join(dir, 'xdg-state') };
  delete (env as NodeJS.ProcessEnv).PWNM_SYNC_TOKEN;
  await execa('notmuch', ['new', '--quiet'], { env });
  const configFile = join(dir, 'pwnm-sync.ini');
  const token = options.token === 'none' ? undefined : options.token === 'user' ? user.token : maint.token;
  const notmuch = new Notmuch({ env });
  let mailSerial = 0;
  const self: TestEnv = {
    dir, maildir, sandbox, maint, user, project, env, configFile, notmuch,
    writeConfig(instance = '', global = '') {
      writeFileSync(configFile, `[pwnm-sync]\nstate_db = ${join(dir, 'state.db')}\n${global}\n[instance sandbox]\nurl = ${sandbox.url}\n${token ? `token = ${token}\n` : ''}sync = skiboot=skiboot@lists.ozlabs.org\n${instance}`, { mode: 0o600 });
      return configFile;
    },
    session(sessionOptions = {}, overrides = {}) {
      const { config } = loadConfig({ configFile, ...overrides }, env);
      return new Session(config, { env, client: { retries: 2, retryBaseMs: 5, timeoutMs: 5000 }, ...sessionOptions });
    },
    async addMail(msgid, o = {}) {
      const date = o.date ?? new Date(Date.UTC(2026, 9, 1));
      writeFileSync(join(maildir, 'cur', `extra.${++mailSerial}:2,S`), `From: Someone <someone@example.org>\nTo: ${o.to ?? 'skiboot@lists.ozlabs.org'}\nSubject: ${o.subject ?? '[PATCH] late mail'}\nDate: ${date.toUTCString().replace('GMT', '+0000')}\nMessage-ID: <${msgid}>\n\nbody\n`);
      await execa('notmuch', ['new', '--quiet'], { env });
    },
    async tags(msgid) {
      return ((await notmuch.dump(idQuery(msgid))).get(msgid) ?? []).sort();
    },
    async cleanup() {
      await sandbox.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  self.writeConfig();
  return self;
}

/** The notmuch-form msgid of a sandbox patch. */
export function msgidOf(env: TestEnv, patchId: number): string {
  return env.sandbox.data.patches.get(patchId)!.msgid.replace(/^<|>$/g, '');
}

export function patchesOf(env: TestEnv): number[] {
  return env.sandbox.data.byProject.get(env.project.id) ?? [];
}

/** The first sandbox patch of the project in `state`. */
export function patchIn(env: TestEnv, state: string): number {
  return patchesOf(env).find((i) => env.sandbox.data.patches.get(i)!.state === state)!;
}

export interface Served {
  child: ChildProcessWithoutNullStreams;
  conn: MessageConnection;
  /** Notifications received, in order. */
  notes: { method: string; params: unknown }[];
  stderr: () => string;
  exited: Promise<number | null>;
}

/** The real `pwnm-sync serve` process (on the Node running the tests, with `nodeArgs`), with a vscode-jsonrpc client on its pipes. */
export function startServe(env: TestEnv, args: string[] = ['-c', env.configFile], nodeArgs: string[] = []): Served {
  const child = spawn(process.execPath, [...nodeArgs, CLI, 'serve', ...args], { env: env.env });
  let err = '';
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  const notes: Served['notes'] = [];
  conn.onNotification((method: string, params: unknown) => void notes.push({ method, params }));
  conn.listen();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, conn, notes, stderr: () => err, exited };
}

/** shutdown, exit, and wait for the process to end. */
export async function stopServe(server: Served): Promise<void> {
  if (server.child.exitCode === null) {
    await server.conn.sendRequest('shutdown').catch(() => undefined);
    await server.conn.sendNotification('exit').catch(() => undefined);
    await server.exited;
  }
  server.conn.dispose();
}

/** Debian's notmuch-emacs (elpa-notmuch), which every Emacs test loads. */
export const NOTMUCH_ELISP = '/usr/share/emacs/site-lisp/elpa/notmuch-0.37';

/** `emacs --batch -Q` with notmuch-emacs and our package on the load path, from the repository root. */
/** Run `emacs --batch` with notmuch-emacs, our package and, given `jsonrpcDir`, that jsonrpc.el first on load-path. */
export function emacsBatch(args: string[], env?: NodeJS.ProcessEnv, jsonrpcDir?: string) {
  const jsonrpc = jsonrpcDir ? ['-L', jsonrpcDir, '--eval', '(message "jsonrpc from %s" (locate-library "jsonrpc"))'] : [];
  // No stdin (a prompt in batch then fails at once instead of waiting), and
  // a bound on the whole run: a hung test must end the suite, not stall it.
  return execa('emacs', ['--batch', '-Q', ...jsonrpc, '-L', NOTMUCH_ELISP, '-L', join(ROOT, 'elisp'), ...args], { cwd: ROOT, reject: false, all: true, stdin: 'ignore', timeout: 280_000, ...(env ? { env, extendEnv: false } : {}) });
}

/**
 * The jsonrpc.el versions the Emacs suites run on: Emacs's own, then GNU
 * ELPA's 1.0.28 (vendored, GPL, read from ../shared/vendor or
 * $PWNM_SYNC_JSONRPC_DIR, never copied into the repo). `dir` undefined:
 * Emacs's own; `missing`: the vendored one is not there (a skip, and a
 * failure under CI=true).
 */
export function jsonrpcVersions(): { label: string; dir?: string; missing?: string }[] {
  const dir = process.env.PWNM_SYNC_JSONRPC_DIR ?? join(ROOT, '..', 'shared', 'vendor', 'elisp', 'jsonrpc-1.0.28');
  const vendored = existsSync(join(dir, 'jsonrpc.el'))
    ? { label: 'jsonrpc 1.0.28', dir }
    : { label: 'jsonrpc 1.0.28', missing: `no jsonrpc.el in ${dir} (set PWNM_SYNC_JSONRPC_DIR)` };
  return [{ label: "Emacs's own jsonrpc" }, vendored];
}

/** Skip `ctx`'s test with one clear line when the vendored jsonrpc is missing; fail instead under CI=true. */
export function skipIfMissing(ctx: Mocha.Context, version: { missing?: string }): void {
  if (!version.missing) return;
  if (process.env.CI === 'true') throw new Error(version.missing);
  console.log(`      skipped: ${version.missing}`);
  ctx.skip();
}

/** Run one ERT file; prints each test's verdict and returns emacs's whole output and exit code. */
export async function runErt(file: string, env: NodeJS.ProcessEnv, jsonrpcDir?: string): Promise<{ exitCode: number | undefined; all: string }> {
  const r = await emacsBatch(['-l', 'ert', '-l', file, '-f', 'ert-run-tests-batch-and-exit'], env, jsonrpcDir);
  if (jsonrpcDir && !r.all.includes(`jsonrpc from ${join(jsonrpcDir, 'jsonrpc')}`)) throw new Error(`Emacs did not load jsonrpc from ${jsonrpcDir}:\n${r.all.slice(0, 2000)}`);
  console.log(r.all.split('\n').filter((l) => /^\s*(passed|FAILED|skipped)\s|^Ran \d+ tests/.test(l)).map((l) => `      ${l.trim()}`).join('\n'));
  return { exitCode: r.exitCode, all: r.all };
}

/** Our CLI as its own process, on the Node that runs the tests (not whatever `node` is first on PATH). */
export function runCli(args: readonly string[], options: { env: NodeJS.ProcessEnv; cwd?: string }) {
  return execa(process.execPath, [CLI, ...args], { ...options, extendEnv: false, reject: false, all: true });
}
