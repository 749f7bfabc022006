#!/usr/bin/env node
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig, type Config, type ConfigOverrides } from './config.js';
import { PwnmError, errorMessage } from './errors.js';
import type { retryPending } from './ops/pending.js';
import { bundleCommand } from './bundle-command.js';
import { formatSync } from './report.js';
import { Session } from './session.js';
import { sync } from './sync/engine.js';
import { holdSecret, redact } from './secrets.js';
import { VERSION } from './version.js';
import { printStatsAtExit } from './stats.js';
import { formatTimeline, timeline } from './timeline.js';

// argv -> commands. Exit status: 0 done, 1 some changes failed or a runtime
// error, 2 usage or config error. Other commands than `sync` load their
// modules when they run (import()): `sync` runs in notmuch's post-new hook
// after every `notmuch new`, and should not pay for what they use.

const USAGE = `Usage: pwnm-sync [OPTIONS] [COMMAND] [ARGS]

Keep Patchwork patch states and notmuch tags in sync, both ways.

Commands:
  sync                      sync every configured project (the default)
  status                    message counts per project and state tag
  set-state MSGID STATE     set a patch's state on Patchwork now, then retag
  info MSGID                a patch's project, state, archived, delegate, series,
                            checks, web page and pending changes
  pending                   changes that did not go through: queued pushes,
                            refusals, conflicts, ambiguous tags;
                            --retry [ID|MSGID...] pushes them (or these) now,
                            --drop ID|MSGID forgets one (repeatable; tags stay)
  serve                     JSON-RPC over stdio, for the Emacs package
  hook install|uninstall    add or remove our line in notmuch's post-new hook
  import-original [DB]      take the original pwnm-sync's states as ours (~/.pwnm-sync.db)
  doctor                    check config, token, notmuch, state database and hook
  accept-from-git RANGE     mark the patches that became these commits accepted
                            [--repo DIR] [--project P] [--state S] [--dry-run]
  apply MSGID               git am the patch (--series: its series; a cover letter:
                            its series) from Patchwork, with the replies' trailers
                            [--repo DIR] [--3way] [--state S] [--dry-run] [--project P]
                            [--deps] (the series it depends on first, each once)
  apply --bundle NAME       git am your bundle NAME (or a public one), in its order
  thanks                    an "applied, thanks" reply per accepted series whose
                            commits are on the public branch, as notmuch drafts
                            [--branch REMOTE/BRANCH] [--repo DIR] [--project P]
                            [--since YYYY-MM-DD] [--state S] [--dry-run] [--mbox: to stdout]
  rules                     what the rules did or would do on replies since the last
                            run ("pw-bot: cr" in your replies, [rule NAME] sections;
                            sync runs them too) [--dry-run] [--since YYYY-MM-DD]
  trailers                  tag review trailers (pw-PROJECT-acked/-reviewed/-tested)
                            and your replies (-replied) in threads with new mail;
                            sync and the post-new hook run it too [--dry-run]
                            [--full: every patch thread again]
  bundle list|add|remove|delete|mbox
                            your Patchwork bundles: list [--project P],
                            add NAME MSGID... [--series] (creates NAME if new),
                            remove NAME MSGID..., delete NAME, mbox NAME
                            (its URL; --download: the mbox on stdout, for git am)
  fill                      fetch from Patchwork the mail of patches (and cover
                            letters) not in notmuch, and notmuch insert it
                            [--project P] [--since DATE] [--limit N] [--dry-run]
  demo [--keep]             a full demo against a local sandbox Patchwork
  help, --help              this text;  --version  the version

Options (the original pwnm-sync's flags work unchanged):
  -c, --config FILE             config file (default ~/.config/pwnm-sync/config.ini,
                                then ~/.pwnm-sync.ini)
  -m, --notmuch-database DIR    notmuch database (default: notmuch's own config)
  -d, --syncdb FILE             the original tool's database (read, never written)
      --state-db FILE           our state database
  -t, --patchwork-token TOKEN   API token (also PWNM_SYNC_TOKEN, token_command)
  -p, --patchwork-url URL       Patchwork site (default https://patchwork.ozlabs.org)
  -s, --sync LIST               project=list@host,...
  -e, --epoch YYYY-MM-DD        on a first sync, only patches mailed since then
      --project P               only this project (repeatable)
      --full                    refetch everything, not only what changed
      --local-only              no network: tag arrived mail, record local changes
      --series                  set-state, apply: every patch of the message's series
      --3way                    apply: git am -3 (fall back on a three-way merge)
      --deps                    apply: first the series it depends on (Depends-on:)
      --dry-run                 say what would change, change nothing
      --prefer server|local     who wins when both sides changed (default server)
      --json                    machine-readable output
      --timings                 sync: print a timeline of the run on stderr (each
                                request, notmuch call, tag batch, store write)
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  'notmuch-database': { type: 'string', short: 'm' },
  syncdb: { type: 'string', short: 'd' },
  'state-db': { type: 'string' },
  'patchwork-token': { type: 'string', short: 't' },
  'patchwork-url': { type: 'string', short: 'p' },
  sync: { type: 'string', short: 's' },
  epoch: { type: 'string', short: 'e' },
  project: { type: 'string', multiple: true },
  full: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  'local-only': { type: 'boolean' },
  series: { type: 'boolean' },
  '3way': { type: 'boolean' },
  deps: { type: 'boolean' },
  bundle: { type: 'string' },
  since: { type: 'string' },
  limit: { type: 'string' },
  repo: { type: 'string' },
  state: { type: 'string' },
  prefer: { type: 'string' },
  json: { type: 'boolean' },
  timings: { type: 'boolean' },
  retry: { type: 'boolean' },
  drop: { type: 'string', multiple: true },
  keep: { type: 'boolean' },
  download: { type: 'boolean' },
  patches: { type: 'string' },
  branch: { type: 'string' },
  mbox: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function overrides(v: Values): ConfigOverrides {
  const o: ConfigOverrides = {};
  if (v.config) o.configFile = v.config;
  if (v['notmuch-database']) o.notmuchDatabase = v['notmuch-database'];
  if (v.syncdb) o.syncdb = v.syncdb;
  if (v['state-db']) o.stateDb = v['state-db'];
  if (v['patchwork-token']) o.token = v['patchwork-token'];
  if (v['patchwork-url']) o.url = v['patchwork-url'];
  if (v.sync) o.sync = v.sync;
  if (v.epoch) o.epoch = v.epoch;
  if (v.prefer) o.prefer = v.prefer;
  return o;
}

// Everything this command prints goes through these two, which hide every
// token the process holds (secrets.ts), whatever its source.
holdSecret(process.env.PWNM_SYNC_TOKEN);
const out = (text: string): void => void process.stdout.write(`${redact(text)}\n`);
const err = (text: string): void => void process.stderr.write(redact(text));
const print = (v: Values, value: unknown, text: () => string): void => out(v.json ? JSON.stringify(value, null, 2) : text());
const projectOpt = (v: Values): { project?: string } => (v.project?.[0] ? { project: v.project[0] } : {});

/** A command with a session open: its exit status. */
interface Run { v: Values; args: string[]; session: Session; config: Config }
type Command = (run: Run) => Promise<number>;

async function syncCommand({ v, args, session }: Run): Promise<number> {
  if (args.length) throw new PwnmError('USAGE', `sync takes no arguments (got ${args.join(' ')}); use --project P`);
  const tty = process.stderr.isTTY && !v.json && !v.timings;
  timeline.enabled = Boolean(v.timings);
  const summary = await sync(session, {
    ...(v.project ? { projects: v.project } : {}),
    ...(v.epoch ? { epoch: v.epoch } : {}),
    full: Boolean(v.full),
    dryRun: Boolean(v['dry-run']),
    localOnly: Boolean(v['local-only']),
    ...(tty ? { onProgress: (p) => err(`\r\x1b[K${p.message}`) } : {}),
  });
  if (tty) err('\r\x1b[K');
  if (v.timings) err(`${formatTimeline(timeline.spans)}\n`);
  print(v, summary, () => formatSync(summary));
  return summary.ok ? 0 : 1;
}

async function statusCommand({ v, session }: Run): Promise<number> {
  const [{ counts }, { formatCounts }] = await Promise.all([import('./ops/counts.js'), import('./report.js')]);
  const result = await counts(session, v.project);
  print(v, result, () => formatCounts(result));
  return 0;
}

async function hookCommand({ args, session, config }: Run): Promise<number> {
  const { hookFile, hookLine, installHook, uninstallHook } = await import('./setup/hook.js');
  const file = await hookFile(session.notmuch);
  if (args[0] === 'install') {
    const self = [process.execPath, fileURLToPath(new URL('./cli.js', import.meta.url))];
    const r = installHook(file, hookLine(self, config.file));
    out(`${r.action === 'unchanged' ? 'already installed in' : `${r.action} in`} ${r.file}`);
  } else if (args[0] === 'uninstall') {
    const r = uninstallHook(file);
    out(r.action === 'absent' ? `not installed in ${r.file}` : `removed from ${r.file}`);
  } else throw new PwnmError('USAGE', 'hook takes install or uninstall');
  return 0;
}

async function importCommand({ v, args, session, config }: Run): Promise<number> {
  const { importOriginal } = await import('./setup/import-original.js');
  const file = args[0] ?? config.originalDb ?? join(homedir(), '.pwnm-sync.db');
  const r = importOriginal(session, file);
  print(v, r, () => `imported ${r.imported} patch states from ${r.file} (${r.projects.join(', ') || 'no configured project'}); ${r.pending} local changes the original had not pushed go with the next sync; ${r.skipped} rows of other projects skipped`);
  return 0;
}

async function acceptCommand({ v, args, session }: Run): Promise<number> {
  if (args.length !== 1) throw new PwnmError('USAGE', 'accept-from-git takes one REV-RANGE, e.g. origin/master..HEAD');
  const { acceptFromGit, formatAccept } = await import('./git/accept.js');
  const r = await acceptFromGit(session, { repo: v.repo ?? process.cwd(), range: args[0]!, dryRun: Boolean(v['dry-run']), ...projectOpt(v), ...(v.state ? { state: v.state } : {}) });
  print(v, r, () => formatAccept(r));
  return r.matched.every((m) => ['pushed', 'unchanged', 'dry-run'].includes(m.outcome)) ? 0 : 1;
}

async function applyCommand({ v, args, session }: Run): Promise<number> {
  if (args.length !== (v.bundle === undefined ? 1 : 0)) throw new PwnmError('USAGE', 'apply takes one MESSAGE-ID, e.g. pwnm-sync apply --series 20180101.1234@example.org, or --bundle NAME and no MESSAGE-ID');
  const { applyPatches, formatApply } = await import('./git/apply.js');
  const abort = new AbortController();
  // Ctrl-C stops between two patches and rolls the series back; a second one kills.
  process.once('SIGINT', () => abort.abort());
  const tty = process.stderr.isTTY && !v.json;
  const r = await applyPatches(session, {
    ...(v.bundle === undefined ? { messageId: args[0]! } : { bundle: v.bundle }), series: Boolean(v.series), deps: Boolean(v.deps), threeWay: Boolean(v['3way']), dryRun: Boolean(v['dry-run']), signal: abort.signal,
    ...(v.repo ? { repo: v.repo } : {}), ...(v.state ? { state: v.state } : {}), ...projectOpt(v),
    ...(tty ? { onProgress: (p) => { if (p.phase === 'applying' || p.phase === 'checking') process.stderr.write(`${p.phase} ${p.index}/${p.total} ${p.subject}\n`); } } : {}),
  });
  print(v, r, () => formatApply(r));
  return r.outcome === 'applied' || r.outcome === 'checked' ? (r.states.every((x) => x.outcome === 'pushed' || x.outcome === 'unchanged') ? 0 : 1) : 1;
}

async function setStateCommand({ v, args, session }: Run): Promise<number> {
  if (args.length !== 2) throw new PwnmError('USAGE', 'set-state takes MESSAGE-ID and STATE, e.g. pwnm-sync set-state 20180101.1234@example.org accepted');
  const [{ setState }, { formatSetState }] = await Promise.all([import('./ops/set-state.js'), import('./report.js')]);
  const results = await setState(session, args[0]!, args[1]!, { ...projectOpt(v), series: Boolean(v.series) });
  print(v, results, () => formatSetState(results));
  return results.every((r) => r.outcome === 'pushed' || r.outcome === 'unchanged') ? 0 : 1;
}

async function infoCommand({ v, args, session }: Run): Promise<number> {
  if (args.length !== 1) throw new PwnmError('USAGE', 'info takes one MESSAGE-ID, e.g. pwnm-sync info 20180101.1234@example.org');
  const [{ patchInfo }, { formatInfo }] = await Promise.all([import('./ops/info.js'), import('./report.js')]);
  const patches = await patchInfo(session, args[0]!, { lookUp: true });
  print(v, { patches }, () => formatInfo(patches));
  return 0;
}

async function pendingCommand({ v, args, session }: Run): Promise<number> {
  if (v.retry && v.drop) throw new PwnmError('USAGE', 'pending takes --retry or --drop, not both');
  const [{ dropPending, listPending, pendingRows }, { formatPending }] = await Promise.all([import('./ops/pending.js'), import('./report.js')]);
  if (v.drop || args.length) {
    const refs = [...(v.drop ?? []), ...args];
    if (!v.retry && !v.drop) throw new PwnmError('USAGE', `pending takes no arguments without --retry (got ${args.join(' ')})`);
    const rows = pendingRows(session, refs, true);
    if (v.retry) return retryCommand(v, session, rows);
    const dropped = dropPending(session, rows);
    print(v, { dropped }, () => `dropped ${dropped} pending item${dropped === 1 ? '' : 's'}`);
    return dropped > 0 ? 0 : 1;
  }
  if (v.retry) return retryCommand(v, session, pendingRows(session, listPending(session).map((i) => i.id)));
  const items = listPending(session);
  print(v, { items }, () => formatPending(items));
  return 0;
}

async function retryCommand(v: Values, session: Session, rows: Parameters<typeof retryPending>[1]): Promise<number> {
  const [{ retryPending }, { formatPush }] = await Promise.all([import('./ops/pending.js'), import('./report.js')]);
  const { results } = await retryPending(session, rows);
  print(v, { results }, () => formatPush(results));
  return results.every((r) => r.outcome === 'pushed' || r.outcome === 'nothing') ? 0 : 1;
}

async function fillCommand({ v, args, session }: Run): Promise<number> {
  if (args.length) throw new PwnmError('USAGE', `fill takes no arguments (got ${args.join(' ')}); say which with --project, --since, --limit`);
  if (v.since && !/^\d{4}-\d{2}-\d{2}/.test(v.since)) throw new PwnmError('USAGE', `--since is a date, YYYY-MM-DD, not ${v.since}`);
  const limit = v.limit === undefined ? undefined : Number(v.limit);
  const { fill, formatFill } = await import('./ops/fill.js');
  const r = await fill(session, { ...(v.project ? { projects: v.project } : {}), ...(v.since ? { since: v.since } : {}), ...(limit !== undefined ? { limit } : {}), dryRun: Boolean(v['dry-run']) });
  print(v, r, () => formatFill(r));
  return r.failed.length ? 1 : 0;
}

async function thanksCommand({ v, args, session }: Run): Promise<number> {
  if (args.length) throw new PwnmError('USAGE', `thanks takes no arguments (got ${args.join(' ')}); use --project P`);
  const { thanks, formatThanks } = await import('./mail/thanks.js');
  const r = await thanks(session, {
    ...projectOpt(v), dryRun: Boolean(v['dry-run']), mbox: Boolean(v.mbox),
    ...(v.since ? { since: v.since } : {}), ...(v.state ? { state: v.state } : {}), ...(v.branch ? { branch: v.branch } : {}), ...(v.repo ? { repo: v.repo } : {}),
  });
  // With --mbox, stdout is the mbox (for a mail client or `git send-email`); the report goes to stderr.
  if (v.mbox) {
    process.stdout.write(r.mbox ?? '');
    err(`${formatThanks(r)}\n`);
  } else print(v, r, () => formatThanks(r));
  return 0;
}

async function rulesCommand({ v, args, session }: Run): Promise<number> {
  if (args.length) throw new PwnmError('USAGE', `rules takes no arguments (got ${args.join(' ')}); use --dry-run or --since YYYY-MM-DD`);
  const { runRules, formatRules } = await import('./mail/rules.js');
  const r = await runRules(session, { dryRun: Boolean(v['dry-run']), ...(v.since ? { since: v.since } : {}) });
  print(v, r, () => formatRules(r));
  return r.fired.every((f) => (f.results ?? []).every((x) => x.outcome === 'pushed' || x.outcome === 'unchanged')) ? 0 : 1;
}

async function trailersCommand({ v, args, session }: Run): Promise<number> {
  if (args.length) throw new PwnmError('USAGE', `trailers takes no arguments (got ${args.join(' ')}); use --dry-run or --full`);
  const { runTrailers, formatTrailers } = await import('./mail/trailers.js');
  const r = await runTrailers(session, { dryRun: Boolean(v['dry-run']), full: Boolean(v.full) });
  print(v, r, () => formatTrailers(r, Boolean(v['dry-run'])));
  return 0;
}

const COMMANDS: Record<string, Command> = {
  sync: syncCommand,
  status: statusCommand,
  'set-state': setStateCommand,
  info: infoCommand,
  pending: pendingCommand,
  hook: hookCommand,
  'import-original': importCommand,
  'accept-from-git': acceptCommand,
  apply: applyCommand,
  fill: fillCommand,
  thanks: thanksCommand,
  rules: rulesCommand,
  trailers: trailersCommand,
  bundle: ({ v, args, session }) => bundleCommand({
    args, session, ...projectOpt(v), series: Boolean(v.series), download: Boolean(v.download),
    print: (value, text) => print(v, value, text), raw: (text) => void process.stdout.write(redact(text)),
  }),
};

/** Commands that need no config or session. */
async function standalone(command: string, v: Values): Promise<number | undefined> {
  if (command === 'demo') {
    const { runDemo } = await import('./sandbox/demo.js');
    await runDemo({ keep: Boolean(v.keep), ...(v.patches ? { patches: Number(v.patches) } : {}) });
    return 0;
  }
  if (command === 'serve') {
    const { serve } = await import('./rpc/server.js');
    serve({ input: process.stdin, output: process.stdout, overrides: overrides(v) });
    return new Promise<number>(() => undefined); // runs until `exit` or the client goes away
  }
  if (command === 'doctor') {
    const { doctor, formatChecks } = await import('./setup/doctor.js');
    const checks = await doctor(overrides(v));
    print(v, checks, () => formatChecks(checks));
    return checks.every((c) => c.ok || c.what === 'post-new hook') ? 0 : 1;
  }
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new PwnmError('USAGE', `${errorMessage(err)}; see pwnm-sync --help`);
  }
  const { values: v, positionals } = parsed;
  if (v.version) return out(VERSION), 0;
  const [command = 'sync', ...args] = positionals;
  if (v.help || command === 'help') return out(USAGE), 0;
  const early = await standalone(command, v);
  if (early !== undefined) return early;
  const run = COMMANDS[command];
  if (!run) throw new PwnmError('USAGE', `unknown command "${command}"; see pwnm-sync --help`);

  const { config, warnings } = loadConfig(overrides(v));
  for (const w of warnings) err(`pwnm-sync: warning: ${w}\n`);
  if (config.instances.length === 0) {
    throw new PwnmError('CONFIG', `no projects to sync: write ${config.file ?? '~/.config/pwnm-sync/config.ini'} (see README "Configure"), or give -s project=list@host`);
  }
  const session = new Session(config);
  try {
    return await run({ v, args, session, config });
  } finally {
    await session.close();
  }
}

// For the benchmark, on stderr at exit: the peak memory of this process,
// when (ms since the process started) its modules were loaded and when it
// ended, the CPU time it had used by then (less disturbed by a busy
// machine), its notmuch children's CPU, and the sync's own start and end.
if (process.env.PWNM_SYNC_STATS) printStatsAtExit();

main(process.argv.slice(2)).then(
  // Exit now: the event loop takes another ~0.2 s to wind down, which a
  // post-new hook run on every `notmuch new` should not pay. (stdout and
  // stderr are synchronous for files and pipes on Linux, so nothing is cut.)
  (code) => process.exit(code),
  (failure) => {
    err(`pwnm-sync: ${errorMessage(failure)}\n`);
    if (!(failure instanceof PwnmError)) err(`${String((failure as Error).stack ?? '')}\n`);
    process.exitCode = failure instanceof PwnmError && (failure.code === 'USAGE' || failure.code === 'CONFIG') ? 2 : 1;
  },
);
