import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { notmuchMessageId } from '../../server/mail/message-id.js';
import { idQuery } from '../../server/notmuch/encoding.js';
import { Notmuch } from '../../server/notmuch/notmuch.js';
import { generateMail, type GenerateOptions, type GeneratedMail } from '../../server/sandbox/generator.js';
import type { ProjectSummary } from '../../server/sync/engine.js';
import { isMailTag, runCli } from '../helpers.js';
import type { RealPatchwork, RealUser } from './harness.js';

// One test's world against the shared real Patchwork: a project of its own
// (so tests never see each other's patches), the generator's mail imported
// through Patchwork's parser, a real notmuch database of the same mail,
// and a pwnm-sync config pointing at both.

/** A patch as the real API returns it (the fields the tests read). */
export interface ApiPatch {
  id: number; msgid: string; state: string; archived: boolean; hash: string | null; check: string; name: string; web_url: string;
  delegate: { username: string } | null; submitter: { email: string }; series: { id: number; name: string; version: number }[];
}

export type Who = 'maint' | 'submitter' | 'plain' | 'none' | 'bad';

export interface RealEnv {
  pw: RealPatchwork;
  dir: string;
  link: string;
  listEmail: string;
  listId: string;
  projectId: number;
  mails: GeneratedMail[];
  env: NodeJS.ProcessEnv;
  configFile: string;
  notmuch: Notmuch;
  writeConfig(options?: { who?: Who; instance?: string; global?: string }): void;
  /** The real CLI, `-c configFile` first. */
  cli(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** `sync --json`, its summary's only project, and the exit code. */
  sync(args?: string[]): Promise<{ exitCode: number; p: ProjectSummary; stderr: string }>;
  /** The real REST API, as `who`. */
  api<T>(method: string, path: string, who?: Who, body?: unknown): Promise<{ status: number; body: T }>;
  patches(): Promise<ApiPatch[]>;
  patch(msgid: string): Promise<ApiPatch>;
  setState(msgid: string, state: string): Promise<void>;
  /** More mail from the generator (say a v2 resend), imported and indexed. */
  addMail(options: GenerateOptions, subdir: string): Promise<GeneratedMail[]>;
  tags(msgid: string): Promise<string[]>;
  stateTags(msgid: string): Promise<string[]>;
  retag(msgid: string, add: string[], remove: string[]): Promise<void>;
  cleanup(): Promise<void>;
}

let serial = 0;

/** The patch msgids (no <>) of generated mail, in mail order: every mail with a diff. */
export const patchMsgids = (mails: GeneratedMail[]): string[] => mails.filter((m) => m.text.includes('\ndiff --git ')).map((m) => m.msgid);

export async function makeRealEnv(pw: RealPatchwork, options: { patches?: number; seed?: number; msgids?: readonly string[]; who?: Who } = {}): Promise<RealEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'pwnm-real-test-'));
  const link = `rp${process.pid}x${++serial}`;
  const listEmail = `${link}@lists.example.org`;
  const listId = `${link}.lists.example.org`;
  const { id: projectId } = await pw.admin<{ id: number }>('project', { linkname: link, listid: listId, listemail: listEmail, maintainers: ['maint'] });
  const maildir = join(dir, 'mail');
  const list = { link_name: link, list_email: listEmail, list_id: listId };
  const mails = generateMail(list, maildir, { patches: options.patches ?? 8, seed: options.seed ?? 5, ...(options.msgids ? { msgids: options.msgids } : {}) });
  await pw.admin('import', { files: mails.map((m) => m.file), listid: listId });
  const notmuchConfig = join(dir, 'notmuch-config');
  writeFileSync(notmuchConfig, `[database]\npath=${maildir}\n[new]\ntags=inbox\n[user]\nname=Test\nprimary_email=test@example.org\n[search]\nexclude_tags=\n`);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LANG: 'C.UTF-8', NOTMUCH_CONFIG: notmuchConfig, HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg-config'), XDG_STATE_HOME: join(dir, 'xdg-state') };
  await execa('notmuch', ['new', '--quiet'], { env, extendEnv: false });
  const configFile = join(dir, 'pwnm-sync.ini');
  const notmuch = new Notmuch({ env });
  const tokenOf = (who: Who): string | undefined => (who === 'none' ? undefined : who === 'bad' ? '0123456789abcdef0123456789abcdef01234567' : (pw[who] as RealUser).token);
  const self: RealEnv = {
    pw, dir, link, listEmail, listId, projectId, mails, env, configFile, notmuch,
    writeConfig({ who = 'maint', instance = '', global = '' } = {}) {
      const token = tokenOf(who);
      writeFileSync(configFile, `[pwnm-sync]\nstate_db = ${join(dir, 'state.db')}\n${global}\n[instance real]\nurl = ${pw.url}\n${token ? `token = ${token}\n` : ''}sync = ${link}=${listEmail}\n${instance}`, { mode: 0o600 });
    },
    async cli(args) {
      const r = await runCli(['-c', configFile, ...args], { env });
      return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
    async sync(args = []) {
      const r = await self.cli(['sync', '--json', ...args]);
      let summary: { projects: ProjectSummary[] };
      try { summary = JSON.parse(r.stdout) as { projects: ProjectSummary[] }; } catch { throw new Error(`sync printed no JSON (exit ${r.exitCode}): ${r.stdout}\n${r.stderr}`); }
      return { exitCode: r.exitCode, p: summary.projects[0]!, stderr: r.stderr };
    },
    async api<T>(method: string, path: string, who: Who = 'maint', body?: unknown) {
      const token = tokenOf(who);
      const headers: Record<string, string> = { accept: 'application/json' };
      if (token) headers.authorization = `Token ${token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const r = await fetch(`${pw.url}/api/1.3/${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const text = await r.text();
      return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T };
    },
    async patches() {
      const all: ApiPatch[] = [];
      for (let page = 1; ; page++) {
        const r = await self.api<ApiPatch[]>('GET', `patches/?project=${projectId}&archived=both&per_page=250&page=${page}`);
        if (r.status === 404) break;
        all.push(...r.body);
        if (r.body.length < 250) break;
      }
      return all;
    },
    async patch(msgid) {
      const r = await self.api<ApiPatch[]>('GET', `patches/?project=${projectId}&archived=both&msgid=${encodeURIComponent(msgid)}`);
      if (r.body.length !== 1) throw new Error(`${r.body.length} patches with msgid ${msgid}`);
      return r.body[0]!;
    },
    async setState(msgid, state) {
      const r = await self.api('PATCH', `patches/${(await self.patch(msgid)).id}/`, 'maint', { state });
      if (r.status !== 200) throw new Error(`PATCH state ${state}: ${r.status} ${JSON.stringify(r.body)}`);
    },
    async addMail(more, subdir) {
      const added = generateMail(list, join(maildir, subdir), more);
      await pw.admin('import', { files: added.map((m) => m.file), listid: listId });
      await execa('notmuch', ['new', '--quiet'], { env, extendEnv: false });
      self.mails.push(...added);
      return added;
    },
    async tags(msgid) {
      const nm = notmuchMessageId(`<${msgid}>`);
      return ((await notmuch.dump(idQuery(nm))).get(nm) ?? []).sort();
    },
    async stateTags(msgid) {
      return (await self.tags(msgid)).filter((t) => t.startsWith(`pw-${link}-`) && !isMailTag(t));
    },
    async retag(msgid, add, remove) {
      await notmuch.tag([{ msgid: notmuchMessageId(`<${msgid}>`), add, remove }]);
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
  self.writeConfig({ who: options.who ?? 'maint' });
  return self;
}
