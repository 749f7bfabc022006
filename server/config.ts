import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { PwnmError } from './errors.js';
import { parseIni, type IniEntry } from './ini.js';
import { holdSecret } from './secrets.js';

// One typed config schema. Two file dialects feed it: the original tool's
// `[Defaults]` section (kept working unchanged) and our own `[pwnm-sync]` and
// `[instance NAME]` sections for several Patchwork instances.

export interface ProjectConfig {
  /** Patchwork project `link_name`, as used in tags. */
  linkName: string;
  /** The project's list address, used to find its mails in notmuch. */
  list?: string;
  /** The git repository `apply` puts its patches in (`[project NAME]` `repo`); default: the current one. */
  repo?: string;
  /** `thanks`: the public branch a commit must be on before it is thanked for, e.g. origin/main. */
  branch?: string;
  /** `thanks`: a commit's web page, %h the short hash and %H the full one. */
  commitUrl?: string;
}

export interface InstanceConfig {
  /** A short name for messages: the section name, or the URL's host. */
  name: string;
  /** Base URL without a trailing slash, e.g. https://patchwork.ozlabs.org */
  url: string;
  token?: string;
  /** A shell command that prints the token, e.g. `pass show patchwork`. */
  tokenCommand?: string;
  projects: ProjectConfig[];
  /** Only patches mailed on or after this day (YYYY-MM-DD) on a first sync. */
  epoch?: string;
  /** Send the token over plain http to a non-loopback host. */
  allowInsecureHttp: boolean;
  /** Your Patchwork username: patches delegated to it get {prefix}-{project}-delegated. */
  me?: string;
  /** `tag_bundles` for this instance, over the global one. */
  tagBundles?: BundleTags;
}

/** Which bundles are tags: the user's own (needs `me`), every visible one, or none. */
export type BundleTags = 'mine' | 'all' | 'off';

/** Tag families beyond states, each switchable. */
export interface TagFamilies {
  /** {prefix}-{project}-check-{success|warning|fail} from the combined CI check. */
  checks: boolean;
  /** {prefix}-{project}-archived, both ways. */
  archived: boolean;
  /** {prefix}-{project}-delegate-{username} for every delegate (…-delegated for `me` is always on when `me` is set). */
  delegates: boolean;
  /** {prefix}-{project}-bundle-{name} and {prefix}-{project}-bundle, both ways (sync/bundles.ts). */
  bundles: BundleTags;
}

export type Prefer = 'server' | 'local';

/** `[rule NAME]`: when a new reply matches `query`, the patch (or series) it answers becomes `state`. */
export interface RuleConfig {
  name: string;
  /** A notmuch query on the reply, e.g. `body:"LGTM"`. */
  query: string;
  /** The state slug the patch or series becomes. */
  state: string;
  scope: 'patch' | 'series';
  /** Who may trigger it: these addresses (lower-cased), or anyone; default the user's own (notmuch's user.*_email). */
  from: string[] | 'anyone' | 'me';
  /** file:line of the section, for messages. */
  where: string;
}

export interface Config {
  /** The file the config came from, if any. */
  file?: string;
  /** notmuch database path; default: what `notmuch config get database.path` says. */
  notmuchDatabase?: string;
  /** Our state database. Default $XDG_STATE_HOME/pwnm-sync/state.db. */
  stateDb: string;
  /** The original tool's sqlite database (`syncdb`): an import source, never written. */
  originalDb?: string;
  /** First word of every per-project tag: `pw` gives pw-skiboot-new. */
  tagPrefix: string;
  /** Who wins when both sides changed a patch's state since the last sync. */
  prefer: Prefer;
  /** Parallel HTTP requests per instance. */
  concurrency: number;
  /** How long to wait for notmuch's write lock before giving up, in seconds. */
  lockTimeout: number;
  /** Days between full syncs (archiving has no event); 0: only with --full. */
  fullEvery: number;
  tags: TagFamilies;
  /** Mark older versions of a series superseded when a newer one arrives. */
  supersedeOlderSeries: boolean;
  /** `fill`: the maildir folder (under notmuch's database path) that fetched mail goes into. */
  fillFolder: string;
  /** The built-in rule: `pw-bot: X` in the user's own replies sets the series' state (netdev's mailbot aliases). */
  pwBot: boolean;
  /** `[rule NAME]` sections, in file order. */
  rules: RuleConfig[];
  instances: InstanceConfig[];
}

/** What the command line (or a JSON-RPC client) may override. */
export interface ConfigOverrides {
  configFile?: string;
  notmuchDatabase?: string;
  syncdb?: string;
  stateDb?: string;
  token?: string;
  url?: string;
  sync?: string;
  epoch?: string;
  prefer?: string;
}

export const DEFAULT_URL = 'https://patchwork.ozlabs.org';

const GLOBAL_KEYS = new Set(['notmuch_database', 'state_db', 'syncdb', 'tag_prefix', 'prefer', 'concurrency', 'lock_timeout', 'full_every', 'tag_checks', 'tag_archived', 'tag_delegates', 'tag_bundles', 'supersede_older_series', 'fill_folder', 'pw_bot']);
const DEFAULTS_INSTANCE_KEYS = new Set(['patchwork_url', 'patchwork_token', 'token_command', 'sync', 'epoch', 'allow_insecure_http', 'me']);
const INSTANCE_KEYS = new Set(['url', 'token', 'token_command', 'sync', 'epoch', 'allow_insecure_http', 'me', 'tag_bundles']);

function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  return path.startsWith('~/') ? join(env.HOME ?? homedir(), path.slice(2)) : path;
}

function defaultStateDb(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_STATE_HOME || join(env.HOME ?? homedir(), '.local', 'state');
  return join(base, 'pwnm-sync', 'state.db');
}

/** The files looked at when no -c is given, ours first. */
export function defaultConfigFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const xdg = env.XDG_CONFIG_HOME || join(env.HOME ?? homedir(), '.config');
  return [join(xdg, 'pwnm-sync', 'config.ini'), join(env.HOME ?? homedir(), '.pwnm-sync.ini')];
}

type Where = (line?: number) => string;

/** `skiboot=skiboot@lists.ozlabs.org,petitboot` as the original wrote it. */
export function parseSync(value: string, where: string): ProjectConfig[] {
  const projects: ProjectConfig[] = [];
  for (const item of value.split(/[,\n]/).map((s) => s.trim()).filter(Boolean)) {
    const [linkName, list, extra] = item.split('=').map((s) => s.trim());
    if (!linkName || extra !== undefined || (list !== undefined && !/^[^@\s]+@[^@\s]+$/.test(list))) {
      throw new PwnmError('CONFIG', `${where}: cannot read sync entry "${item}"; write it as project=list@host, entries separated by commas`);
    }
    projects.push(list ? { linkName, list } : { linkName });
  }
  return projects;
}

function parseUrl(value: string, where: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new PwnmError('CONFIG', `${where}: "${value}" is not a URL; write it as https://patchwork.example.org`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new PwnmError('CONFIG', `${where}: "${value}" must start with https:// or http://`);
  }
  // Users paste both the site and the API root; we want the site.
  return `${url.origin}${url.pathname.replace(/\/api(\/[\d.]+)?\/?$/, '').replace(/\/+$/, '')}`;
}

function parseEpoch(value: string, where: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))) {
    throw new PwnmError('CONFIG', `${where}: epoch "${value}" is not a date; write it as YYYY-MM-DD`);
  }
  return value;
}

function parseBool(value: string, where: string): boolean {
  const v = value.toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(v)) return true;
  if (['0', 'no', 'false', 'off'].includes(v)) return false;
  throw new PwnmError('CONFIG', `${where}: "${value}" is not true or false`);
}

function parseInt10(value: string, where: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new PwnmError('CONFIG', `${where}: "${value}" must be a whole number from ${min} to ${max}`);
  }
  return n;
}

function parsePrefer(value: string, where: string): Prefer {
  if (value !== 'server' && value !== 'local') {
    throw new PwnmError('CONFIG', `${where}: prefer must be "server" or "local", not "${value}"`);
  }
  return value;
}

function hostOf(url: string): string {
  return new URL(url).host;
}

interface Draft {
  global: Partial<Omit<Config, 'instances' | 'tags'>> & { tags?: Partial<TagFamilies> };
  instances: (Partial<InstanceConfig> & { name?: string; where: string })[];
  /** `[project NAME]` sections: settings of one project, wherever it is synced. */
  projects?: Map<string, ProjectSettings>;
  rules?: RuleConfig[];
}

type ProjectSettings = Pick<ProjectConfig, 'repo' | 'branch' | 'commitUrl'> & { where: string };

function readFile(file: string, env: NodeJS.ProcessEnv): Draft {
  const text = readFileSync(file, 'utf8');
  const draft: Draft = { global: {}, instances: [] };
  for (const section of parseIni(text, file)) {
    const where: Where = (line) => `${file}:${line ?? section.line}`;
    const lower = section.name.toLowerCase();
    const isDefaults = lower === 'defaults';
    const instanceMatch = /^instance\s+(\S+)$/i.exec(section.name);
    const projectMatch = /^project\s+(\S+)$/i.exec(section.name);
    if (projectMatch) {
      readProjectSection(draft, projectMatch[1]!, section.entries, where, env);
      continue;
    }
    const ruleMatch = /^rule\s+(\S+)$/i.exec(section.name);
    if (ruleMatch) {
      readRuleSection(draft, ruleMatch[1]!, section.entries, where);
      continue;
    }
    if (!isDefaults && lower !== 'pwnm-sync' && !instanceMatch) {
      throw new PwnmError('CONFIG', `${where()}: unknown section [${section.name}]; use [Defaults], [pwnm-sync], [instance NAME], [project NAME] or [rule NAME]`);
    }
    const inst: Draft['instances'][number] = { where: where() };
    if (instanceMatch) inst.name = instanceMatch[1]!;
    let hasInstanceKeys = Boolean(instanceMatch);
    for (const entry of section.entries) {
      const at = where(entry.line);
      const key = entry.key;
      const allowed = instanceMatch ? INSTANCE_KEYS.has(key) : GLOBAL_KEYS.has(key) || (isDefaults && DEFAULTS_INSTANCE_KEYS.has(key));
      if (!allowed) {
        const keys = instanceMatch ? INSTANCE_KEYS : isDefaults ? new Set([...GLOBAL_KEYS, ...DEFAULTS_INSTANCE_KEYS]) : GLOBAL_KEYS;
        throw new PwnmError('CONFIG', `${at}: unknown key "${key}" in [${section.name}]; known keys: ${[...keys].sort().join(', ')}`);
      }
      // tag_bundles is global in [pwnm-sync] and [Defaults], the instance's own in [instance NAME].
      if (key === 'tag_bundles' && instanceMatch) inst.tagBundles = parseBundleTags(entry.value.trim(), at);
      else applyKey(draft, inst, key, entry, at, env);
      if (!GLOBAL_KEYS.has(key)) hasInstanceKeys = true;
    }
    if (hasInstanceKeys) draft.instances.push(inst);
  }
  return draft;
}

const PROJECT_KEYS = new Set(['repo', 'branch', 'commit_url']);

/** `[project skiboot]`: `repo` (where `apply` puts its patches), `branch` and `commit_url` (what `thanks` links to). */
function readProjectSection(draft: Draft, name: string, entries: readonly IniEntry[], where: Where, env: NodeJS.ProcessEnv): void {
  draft.projects ??= new Map();
  if (draft.projects.has(name)) throw new PwnmError('CONFIG', `${where()}: a second [project ${name}] section; merge the two`);
  const project: ProjectSettings = { where: where() };
  for (const entry of entries) {
    const at = where(entry.line);
    if (!PROJECT_KEYS.has(entry.key)) throw new PwnmError('CONFIG', `${at}: unknown key "${entry.key}" in [project ${name}]; known keys: ${[...PROJECT_KEYS].join(', ')}`);
    const value = entry.value.trim();
    if (entry.key === 'repo') {
      if (!value) throw new PwnmError('CONFIG', `${at}: repo is empty; give the path of the project's git repository, e.g. repo = ~/src/${name}`);
      project.repo = resolve(expandHome(value, env));
    } else if (entry.key === 'branch') {
      if (!/^[^\s/]+\/\S+$/.test(value)) throw new PwnmError('CONFIG', `${at}: branch "${value}" is not REMOTE/BRANCH, e.g. branch = origin/main`);
      project.branch = value;
    } else {
      if (!/^https?:\/\/\S*%[hH]/.test(value)) throw new PwnmError('CONFIG', `${at}: commit_url "${value}" needs http(s):// and %h or %H, e.g. https://git.kernel.org/netdev/net-next/c/%h`);
      project.commitUrl = value;
    }
  }
  draft.projects.set(name, project);
}

const RULE_KEYS = ['query', 'state', 'scope', 'from'];

/** `[rule NAME]`: query and state required; scope series or patch (default series); from: addresses, me (default) or anyone. */
function readRuleSection(draft: Draft, name: string, entries: readonly IniEntry[], where: Where): void {
  draft.rules ??= [];
  if (draft.rules.some((r) => r.name === name)) throw new PwnmError('CONFIG', `${where()}: a second [rule ${name}] section; give each rule its own name`);
  const rule: Partial<RuleConfig> & { where: string } = { name, where: where() };
  for (const entry of entries) {
    const at = where(entry.line);
    const value = entry.value.trim();
    if (!RULE_KEYS.includes(entry.key)) throw new PwnmError('CONFIG', `${at}: unknown key "${entry.key}" in [rule ${name}]; known keys: ${RULE_KEYS.join(', ')}`);
    if (entry.key === 'query') rule.query = value;
    else if (entry.key === 'state') {
      if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(value)) throw new PwnmError('CONFIG', `${at}: state "${value}" is not a state slug, e.g. changes-requested`);
      rule.state = value;
    } else if (entry.key === 'scope') {
      if (value !== 'patch' && value !== 'series') throw new PwnmError('CONFIG', `${at}: scope is patch or series, not "${value}"`);
      rule.scope = value;
    } else {
      const list = value.split(/[,\s]+/).filter(Boolean).map((a) => a.toLowerCase());
      if (list.length === 1 && (list[0] === 'anyone' || list[0] === 'me')) rule.from = list[0];
      else if (list.length > 0 && list.every((a) => /^[^@\s]+@[^@\s]+$/.test(a))) rule.from = list;
      else throw new PwnmError('CONFIG', `${at}: from is me, anyone, or addresses separated by commas, not "${value}"`);
    }
  }
  for (const key of ['query', 'state'] as const) {
    if (!rule[key]) throw new PwnmError('CONFIG', `${where()}: [rule ${name}] needs ${key} = ..., e.g. ${key === 'query' ? 'query = body:"pw-bot: cr"' : 'state = changes-requested'}`);
  }
  draft.rules.push({ name, query: rule.query!, state: rule.state!, scope: rule.scope ?? 'series', from: rule.from ?? 'me', where: rule.where });
}

function parseBundleTags(value: string, at: string): BundleTags {
  if (value === 'mine' || value === 'all' || value === 'off') return value;
  throw new PwnmError('CONFIG', `${at}: tag_bundles is mine, all or off, not "${value}"`);
}

function applyKey(draft: Draft, inst: Draft['instances'][number], key: string, entry: IniEntry, at: string, env: NodeJS.ProcessEnv): void {
  const value = entry.value.trim();
  switch (key) {
    case 'notmuch_database': draft.global.notmuchDatabase = expandHome(value, env); break;
    case 'state_db': draft.global.stateDb = expandHome(value, env); break;
    case 'syncdb': draft.global.originalDb = expandHome(value, env); break;
    case 'tag_prefix':
      if (!/^[A-Za-z0-9_.+]+$/.test(value)) throw new PwnmError('CONFIG', `${at}: tag_prefix "${value}" may hold only letters, digits, _ . +`);
      draft.global.tagPrefix = value;
      break;
    case 'prefer': draft.global.prefer = parsePrefer(value, at); break;
    case 'concurrency': draft.global.concurrency = parseInt10(value, at, 1, 16); break;
    case 'lock_timeout': draft.global.lockTimeout = parseInt10(value, at, 1, 3600); break;
    case 'full_every': draft.global.fullEvery = parseInt10(value, at, 0, 3650); break;
    case 'tag_checks': draft.global.tags = { ...draft.global.tags, checks: parseBool(value, at) }; break;
    case 'tag_archived': draft.global.tags = { ...draft.global.tags, archived: parseBool(value, at) }; break;
    case 'tag_delegates': draft.global.tags = { ...draft.global.tags, delegates: parseBool(value, at) }; break;
    case 'tag_bundles': draft.global.tags = { ...draft.global.tags, bundles: parseBundleTags(value, at) }; break;
    case 'supersede_older_series': draft.global.supersedeOlderSeries = parseBool(value, at); break;
    case 'pw_bot': draft.global.pwBot = parseBool(value, at); break;
    case 'fill_folder':
      // notmuch insert --folder takes a path relative to the database; no way out of it.
      if (!value || value.startsWith('/') || value.split('/').includes('..')) throw new PwnmError('CONFIG', `${at}: fill_folder is a folder inside the maildir (say patchwork), not "${value}"`);
      draft.global.fillFolder = value;
      break;
    case 'me': if (value) inst.me = value; break;
    case 'patchwork_url': case 'url': inst.url = parseUrl(value, at); break;
    case 'patchwork_token': case 'token': holdSecret(value); if (value) inst.token = value; break;
    case 'token_command': if (value) inst.tokenCommand = value; break;
    case 'sync': inst.projects = parseSync(value, at); break;
    case 'epoch': if (value) inst.epoch = parseEpoch(value, at); break;
    case 'allow_insecure_http': inst.allowInsecureHttp = parseBool(value, at); break;
  }
}

export interface LoadResult { config: Config; warnings: string[] }

export function loadConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): LoadResult {
  const warnings: string[] = [];
  const file = findConfigFile(overrides, env);
  const draft: Draft = file ? readFile(file, env) : { global: {}, instances: [] };
  applyFlags(draft, file, overrides, env);
  const instances = draft.instances.map(finishInstance);
  applyProjectSettings(draft, instances);
  const names = new Set<string>();
  for (const inst of instances) {
    if (names.has(inst.name)) throw new PwnmError('CONFIG', `${file}: two instances are named ${inst.name}; give each [instance NAME] its own name`);
    names.add(inst.name);
  }
  if (env.PWNM_SYNC_TOKEN && instances.length === 1 && !instances[0]!.token) instances[0]!.token = env.PWNM_SYNC_TOKEN;

  if (file && instances.some((i) => i.token)) {
    const mode = statSync(file).mode;
    if (mode & 0o044) warnings.push(`${file} holds a Patchwork token and is readable by others; run chmod 600 ${file}`);
  }
  return { config: finishConfig(draft, file, instances, overrides, env), warnings };
}

/** `-c FILE`, else the first default file that exists, else none. */
function findConfigFile(overrides: ConfigOverrides, env: NodeJS.ProcessEnv): string | undefined {
  if (!overrides.configFile) return defaultConfigFiles(env).find((f) => existsSync(f));
  const file = resolve(expandHome(overrides.configFile, env));
  if (!existsSync(file)) throw new PwnmError('CONFIG', `${file}: no such config file; check the path given with -c`);
  return file;
}

/** Command-line flags speak of the one instance the original knew. */
function applyFlags(draft: Draft, file: string | undefined, overrides: ConfigOverrides, env: NodeJS.ProcessEnv): void {
  const cli = { where: 'command line' } as Draft['instances'][number];
  if (overrides.url) cli.url = parseUrl(overrides.url, '--patchwork-url');
  holdSecret(overrides.token);
  holdSecret(env.PWNM_SYNC_TOKEN);
  if (overrides.token) cli.token = overrides.token;
  if (overrides.sync) cli.projects = parseSync(overrides.sync, '--sync');
  if (overrides.epoch) cli.epoch = parseEpoch(overrides.epoch, '--epoch');
  if (!(cli.url || cli.token || cli.projects || cli.epoch)) return;
  const target = draft.instances.length === 0 ? undefined : draft.instances.length === 1 ? draft.instances[0] : draft.instances.find((i) => !i.name);
  if (target) Object.assign(target, Object.fromEntries(Object.entries(cli).filter(([k]) => k !== 'where')));
  else if (draft.instances.length > 1) throw new PwnmError('CONFIG', `${file}: the command line flags -p -t -s -e apply to the [Defaults] instance, and this file has several [instance] sections; give the values in the file instead`);
  else draft.instances.push(cli);
}

/** An instance as read, with its defaults filled in. */
function finishInstance(d: Draft['instances'][number]): InstanceConfig {
  const url = d.url ?? DEFAULT_URL;
  const inst: InstanceConfig = {
    name: d.name ?? hostOf(url),
    url,
    projects: d.projects ?? [],
    allowInsecureHttp: d.allowInsecureHttp ?? false,
  };
  if (d.token) inst.token = d.token;
  if (d.tokenCommand) inst.tokenCommand = d.tokenCommand;
  if (d.epoch) inst.epoch = d.epoch;
  if (d.me) inst.me = d.me;
  if (d.tagBundles) inst.tagBundles = d.tagBundles;
  if (inst.projects.length === 0) {
    throw new PwnmError('CONFIG', `${d.where}: instance ${inst.name} has no projects to sync; add sync = project=list@host`);
  }
  return inst;
}

/** `[project NAME]` sections, onto every synced project of that name. */
function applyProjectSettings(draft: Draft, instances: readonly InstanceConfig[]): void {
  for (const [name, settings] of draft.projects ?? []) {
    const targets = instances.flatMap((i) => i.projects).filter((p) => p.linkName === name);
    if (targets.length === 0) throw new PwnmError('CONFIG', `${settings.where}: [project ${name}] is not in any sync setting (configured: ${instances.flatMap((i) => i.projects.map((p) => p.linkName)).join(', ') || 'none'})`);
    for (const p of targets) {
      if (settings.repo) p.repo = settings.repo;
      if (settings.branch) p.branch = settings.branch;
      if (settings.commitUrl) p.commitUrl = settings.commitUrl;
    }
  }
}

/** The global settings with their defaults, flags over the file. */
function finishConfig(draft: Draft, file: string | undefined, instances: InstanceConfig[], overrides: ConfigOverrides, env: NodeJS.ProcessEnv): Config {
  const config: Config = {
    stateDb: overrides.stateDb ? resolve(expandHome(overrides.stateDb, env)) : draft.global.stateDb ?? defaultStateDb(env),
    tagPrefix: draft.global.tagPrefix ?? 'pw',
    prefer: overrides.prefer ? parsePrefer(overrides.prefer, '--prefer') : draft.global.prefer ?? 'server',
    concurrency: draft.global.concurrency ?? 4,
    lockTimeout: draft.global.lockTimeout ?? 30,
    fullEvery: draft.global.fullEvery ?? 0,
    tags: { checks: true, archived: true, delegates: false, bundles: 'mine', ...draft.global.tags },
    supersedeOlderSeries: draft.global.supersedeOlderSeries ?? false,
    fillFolder: draft.global.fillFolder ?? 'patchwork',
    pwBot: draft.global.pwBot ?? true,
    rules: draft.rules ?? [],
    instances,
  };
  if (file) config.file = file;
  const nm = overrides.notmuchDatabase ?? draft.global.notmuchDatabase;
  if (nm) config.notmuchDatabase = resolve(expandHome(nm, env));
  const orig = overrides.syncdb ?? draft.global.originalDb;
  if (orig) config.originalDb = resolve(expandHome(orig, env));
  if (config.originalDb && resolve(config.originalDb) === resolve(config.stateDb)) {
    throw new PwnmError('CONFIG', `${file ?? 'command line'}: the state database ${config.stateDb} is the original tool's syncdb; give ours another path with state_db`);
  }
  return config;
}

/** The token for an instance: given, then token_command. Never logged. */
export async function resolveToken(inst: InstanceConfig, given?: string): Promise<string | undefined> {
  holdSecret(given);
  if (given) return given;
  if (inst.token) return inst.token;
  if (!inst.tokenCommand) return undefined;
  try {
    const { execaCommand } = await import('execa'); // only for token_command: a sync with a token in the file starts faster
    const { stdout } = await execaCommand(inst.tokenCommand, { shell: true, timeout: 60_000 });
    const token = stdout.trim().split('\n')[0]?.trim();
    holdSecret(token);
    return token || undefined;
  } catch (err) {
    throw new PwnmError('CONFIG', `token_command for ${inst.name} failed: ${(err as { shortMessage?: string }).shortMessage ?? String(err)}`);
  }
}
