import { execa } from 'execa';
import { cpSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node.js';
import { spawn } from 'node:child_process';
import { Notmuch } from '../../server/notmuch/notmuch.js';
import { LIST_API_VERSION, PatchworkClient } from '../../server/patchwork/client.js';
import { generate } from '../../server/sandbox/generator.js';
import { Sandbox } from '../../server/sandbox/server.js';
import { ROOT } from '../helpers.js';
import { benchReal } from './real.js';
import { runStats, seconds, table, tagFloor, type Row } from './stats.js';

// npm run bench [-- --patches N[,N...] --latency-ms L --concurrency C]
// npm run bench -- --real [--patches 5000]   (the real Patchwork of test/real; see real.ts)
//
// For each size: a maildir and notmuch database of N generated patch mails
// (built once, cached under the temp dir), the same patches in the sandbox
// with L ms per request, and then, in one run: the two floors of a first
// sync (fetching every page; one notmuch tag batch of the same changes),
// the first full sync, a no-change sync, a sync after 100 server-side and
// 100 local changes, setState round trips through `serve`, and a
// --local-only sync with nothing to do, trailer tagging (every thread, 100
// threads with new mail, nothing new). pwnm-sync runs as its own process
// (the real CLI), so its peak RSS is its own.

const { values } = parseArgs({
  options: {
    patches: { type: 'string' },
    // The same, with 100k and 1M spelled so.
    sizes: { type: 'string' },
    real: { type: 'boolean', default: false },
    'latency-ms': { type: 'string', default: '50' },
    concurrency: { type: 'string', default: '4' },
    out: { type: 'string' },
    // Corpora are built once per size and kept here between runs.
    'cache-dir': { type: 'string', default: tmpdir() },
    // While working on the first sync: the floors and the first sync only.
    'first-only': { type: 'boolean', default: false },
    // The tag floor of a million messages takes 40 minutes: leave it out (its row says so).
    'skip-tag-floor': { type: 'boolean', default: false },
  },
});
const size = (text: string): number => Number(text.replace(/k$/i, '000').replace(/M$/, '000000'));
const sizes = (values.sizes ?? values.patches ?? (values.real ? '5000' : '1000,10000')).split(',').map(size);
const latency = Number(values['latency-ms']);
const concurrency = Number(values.concurrency);
const CLI = join(ROOT, 'dist', 'cli.js');
const TOKEN = 'bench-token-0123456789abcdef';

const log = (line: string): void => void process.stderr.write(`${line}\n`);

async function corpus(n: number): Promise<{ dir: string; maildir: string; notmuchConfig: string }> {
  // v2: past 131,400 patches the generator dates mail closer than an hour apart (15 years at most).
  const dir = join(values['cache-dir']!, `pwnm-sync-bench-${n}-v${n >= 131_400 ? 2 : 1}`);
  const maildir = join(dir, 'mail');
  const notmuchConfig = join(dir, 'notmuch-config');
  if (!existsSync(join(dir, 'pristine', 'done'))) {
    log(`building the ${n}-patch corpus in ${dir} (once)...`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const sandbox = new Sandbox();
    const project = sandbox.data.addProject({ link_name: 'skiboot', list_email: 'skiboot@lists.ozlabs.org' });
    generate(sandbox.data, project, maildir, { patches: n, seed: 11 });
    writeFileSync(notmuchConfig, `[database]\npath=${maildir}\n[new]\ntags=inbox\n[user]\nname=Bench\nprimary_email=bench@example.org\n[search]\nexclude_tags=\n`);
    await execa('notmuch', ['new', '--quiet'], { env: { ...process.env, NOTMUCH_CONFIG: notmuchConfig } });
    cpSync(join(maildir, '.notmuch'), join(dir, 'pristine'), { recursive: true });
    writeFileSync(join(dir, 'pristine', 'done'), '');
  }
  untagged(dir);
  return { dir, maildir, notmuchConfig };
}

/** Put the corpus's untagged notmuch database back (every run starts from it; at a million, faster than undoing tags). */
function untagged(dir: string): void {
  const db = join(dir, 'mail', '.notmuch');
  rmSync(db, { recursive: true, force: true });
  cpSync(join(dir, 'pristine'), db, { recursive: true });
  rmSync(join(db, 'done'), { force: true });
}

async function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ wallMs: number; rssMb: number; loadMs: number | undefined; timeline: string; json: { projects: { httpRequests: number; errors: string[] }[]; notmuchCalls: number } }> {
  const started = performance.now();
  const r = await execa(process.execPath, [CLI, ...args, '--json', '--timings'], { env: { ...env, PWNM_SYNC_STATS: '1' }, reject: false });
  const wallMs = performance.now() - started;
  if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(`pwnm-sync ${args.join(' ')} failed: ${r.stderr}`);
  const json = JSON.parse(r.stdout) as { projects: { httpRequests: number; errors: string[] }[]; notmuchCalls: number };
  const errors = json.projects.flatMap((p) => p.errors);
  if (errors.length) throw new Error(`pwnm-sync errors: ${errors.join('; ')}`);
  return { wallMs, ...runStats(r.stderr), json };
}

async function benchSize(n: number): Promise<{ rows: Row[]; timeline: string }> {
  const { dir, notmuchConfig } = await corpus(n);
  const sandbox = new Sandbox();
  sandbox.keepLists = true;
  await sandbox.start();
  const maint = sandbox.data.addUser({ username: 'maint', token: TOKEN });
  const project = sandbox.data.addProject({ link_name: 'skiboot', list_email: 'skiboot@lists.ozlabs.org', maintainers: [maint.id] });
  generate(sandbox.data, project, join(dir, 'mail'), { patches: n, seed: 11, writeMail: false });
  const state = join(dir, 'run');
  rmSync(state, { recursive: true, force: true });
  mkdirSync(state, { recursive: true });
  const configFile = join(state, 'config.ini');
  writeFileSync(configFile, `[pwnm-sync]\nstate_db = ${join(state, 'state.db')}\nconcurrency = ${concurrency}\n[instance sandbox]\nurl = ${sandbox.url}\ntoken = ${TOKEN}\nsync = skiboot=skiboot@lists.ozlabs.org\n`, { mode: 0o600 });
  const env = { ...process.env, NOTMUCH_CONFIG: notmuchConfig };
  const notmuch = new Notmuch({ env });
  const rows: Row[] = [];
  sandbox.delayMs = latency;

  // Floor 1: every page, same per_page and concurrency, nothing done with them.
  let mark = sandbox.requests;
  let t0 = performance.now();
  const client = new PatchworkClient({ instance: 'sandbox', url: sandbox.url, concurrency });
  client.apiVersion = '1.3';
  await client.eachPage('patches', { project: project.id, order: 'id' }, () => undefined, { firstPages: 2, version: LIST_API_VERSION });
  await client.close();
  const fetchFloor = performance.now() - t0;
  rows.push({ step: 'fetch floor (all pages, per_page 250)', wallMs: fetchFloor, http: sandbox.requests - mark });

  const floor2 = values['skip-tag-floor']
    ? { step: 'tag floor (one notmuch tag --batch)', wallMs: NaN, note: 'not measured (--skip-tag-floor)' }
    : await tagFloor(notmuch, 'skiboot', [...sandbox.data.patches.values()], () => Promise.resolve(untagged(dir)));
  rows.push(floor2);
  const tagFloorMs = floor2.wallMs;

  let timeline = '';
  const step = async (name: string, args: string[], note?: string): Promise<Row> => {
    const before = sandbox.requests;
    const r = await runCli(['-c', configFile, ...args], env);
    const row = { step: name, wallMs: r.wallMs, ...(r.loadMs === undefined ? {} : { loadMs: r.loadMs }), http: sandbox.requests - before, notmuch: r.json.notmuchCalls, rssMb: r.rssMb, ...(note ? { note } : {}) };
    rows.push(row);
    // The first sync's timeline only: another step's under its name would mislead.
    if (name === 'first full sync') {
      timeline = r.timeline;
      if (!r.timeline || Number.isNaN(r.rssMb)) log(`  ${n}: ${name}: no stats line or timeline on its stderr (${seconds(r.wallMs)})`);
    }
    log(`  ${n}: ${name}: ${seconds(r.wallMs)}`);
    return row;
  };

  const full = await step('first full sync', ['sync']);
  const dbMb = ['state.db', 'state.db-wal'].reduce((sum, f) => sum + (existsSync(join(state, f)) ? statSync(join(state, f)).size : 0), 0) / 2 ** 20;
  full.note = Number.isNaN(tagFloorMs)
    ? `${(full.wallMs / fetchFloor).toFixed(2)} x the fetch floor (tag floor not measured); state database ${dbMb.toFixed(0)} MB`
    : `${(full.wallMs / Math.max(fetchFloor, tagFloorMs)).toFixed(2)} x max(floors); ${tagFloorMs > fetchFloor ? 'tag' : 'fetch'} floor binds; state database ${dbMb.toFixed(0)} MB`;
  if (values['first-only']) {
    await sandbox.stop();
    return { rows, timeline };
  }
  await runCli(['-c', configFile, 'sync'], env); // reads back its own tags once
  await step('no-change incremental sync', ['sync']);

  const ids = [...sandbox.data.byProject.get(project.id)!];
  for (const id of ids.slice(0, 100)) sandbox.data.setState(id, sandbox.data.patches.get(id)!.state === 'accepted' ? 'rejected' : 'accepted');
  const local = ids.slice(-100).map((id) => sandbox.data.patches.get(id)!);
  await notmuch.tag(local.map((p) => ({ msgid: p.msgid.slice(1, -1), add: ['pw-skiboot-under-review'], remove: [`pw-skiboot-${p.state}`] })).filter((c) => c.remove[0] !== 'pw-skiboot-under-review'));
  await step('incremental, 100 server + 100 local changes', ['sync']);
  // Archive flips make no event: the archive check finds them (10 patches spread over the history).
  for (const id of ids.slice(200, 300)) sandbox.data.setState(id, sandbox.data.patches.get(id)!.state === 'accepted' ? 'rejected' : 'accepted');
  for (let i = 0; i < 10; i++) { const p = sandbox.data.patches.get(ids[Math.floor((i + 0.5) * ids.length / 10)]!)!; p.archived = !p.archived; }
  await step('incremental, 100 server changes + 10 archive flips', ['sync']);
  await step('--local-only, nothing to do', ['sync', '--local-only']);

  // Review trailers (server/mail/trailers.ts): every patch thread read and tagged, then 100 threads with a new ack, then nothing.
  const threads = Number((await execa('notmuch', ['count', '--output=threads', '--', 'tag:pw-skiboot'], { env })).stdout.trim());
  const trailerStep = async (name: string, args: string[]): Promise<void> => {
    const started = performance.now();
    const r = await execa(process.execPath, [CLI, '-c', configFile, 'trailers', '--json', ...args], { env });
    const json = JSON.parse(r.stdout) as { threads: number; changes: unknown[]; notmuchCalls: number };
    rows.push({ step: name, wallMs: performance.now() - started, http: 0, notmuch: json.notmuchCalls, note: `${json.threads} threads read, ${json.changes.length} patches retagged` });
    log(`  ${n}: ${name}: ${seconds(performance.now() - started)}`);
  };
  // At a million the first sync's own trailer pass stands for it (a second whole pass would add most of an hour's share).
  if (n < 1_000_000) await trailerStep(`trailers --full (all ${threads} patch threads)`, ['--full']);
  for (const id of ids.slice(0, 100)) {
    const parent = sandbox.data.patches.get(id)!.msgid.slice(1, -1);
    writeFileSync(join(dir, 'mail', 'cur', `bench-ack.${id}:2,S`), `From: Tina Third <tina@example.net>\nTo: skiboot@lists.ozlabs.org\nSubject: Re: patch\nDate: Sun, 1 Nov 2026 00:00:00 +0000\nMessage-ID: <bench-ack.${id}@example.net>\nIn-Reply-To: <${parent}>\nReferences: <${parent}>\n\nAcked-by: Tina Third <tina@example.net>\n`);
  }
  await execa('notmuch', ['new', '--quiet'], { env });
  await trailerStep('trailers, 100 new acks', []);
  await trailerStep('trailers, nothing new', []);
  // The corpus is kept between runs: its maildir goes back to the generated mail.
  for (const id of ids.slice(0, 100)) rmSync(join(dir, 'mail', 'cur', `bench-ack.${id}:2,S`), { force: true });

  // setState round trips through the real server process.
  const child = spawn(process.execPath, [CLI, 'serve', '-c', configFile], { env });
  const conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  conn.listen();
  await conn.sendRequest('initialize', {});
  const times: number[] = [];
  mark = sandbox.requests;
  const every = Math.max(1, Math.floor(ids.length / 50));
  for (const id of ids.filter((_, i) => i % every === 0).slice(0, 50)) {
    const msgid = sandbox.data.patches.get(id)!.msgid;
    t0 = performance.now();
    await conn.sendRequest('setState', { messageIds: [msgid], state: 'changes-requested' });
    times.push(performance.now() - t0);
  }
  const http = sandbox.requests - mark;
  await conn.sendRequest('shutdown');
  await conn.sendNotification('exit');
  conn.dispose();
  times.sort((a, b) => a - b);
  const p50 = times[Math.floor(times.length * 0.5)]!;
  const p95 = times[Math.floor(times.length * 0.95)]!;
  rows.push({ step: 'setState via serve, p50 of 50', wallMs: p50, http: http / times.length, note: `p95 ${seconds(p95)}; target p95 < ${4 * latency} ms` });

  await sandbox.stop();
  return { rows, timeline };
}

const lines: string[] = [];
const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
const { stdout: nmVersion } = await execa('notmuch', ['--version']);
const against = values.real ? 'the real Patchwork 3.1.3 (gunicorn, 2 sync workers, sqlite) on loopback, no added latency' : `latency ${latency} ms per request`;
lines.push(`# pwnm-sync benchmark`, '', `${when} UTC; load average before ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version}; ${nmVersion}; ${against}, concurrency ${concurrency}.`, '');
const outDir = values.out ? join(values.out, '..') : join(ROOT, 'test', 'bench', 'results');
mkdirSync(outDir, { recursive: true });
for (const n of sizes) {
  log(`benchmark: ${n} patches, ${values.real ? 'real Patchwork' : `${latency} ms latency`}, concurrency ${concurrency}; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const { rows, setup, timeline } = values.real ? await benchReal(n, concurrency, Boolean(values['first-only'])) : { ...(await benchSize(n)), setup: '' };
  lines.push(`## ${n.toLocaleString('en-US')} patches${values.real ? ', real Patchwork' : ''}`, '', ...(setup ? [setup, ''] : []), ...table(rows, Boolean(values.real)), '', `load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`, '');
  // The first full sync's timeline, for seeing where its time goes.
  const timelineFile = join(outDir, `timeline-${n}${values.real ? '-real' : ''}.txt`);
  writeFileSync(timelineFile, timeline);
  log(`timeline of the first full sync: ${timelineFile}`);
}
const text = lines.join('\n');
process.stdout.write(`${text}\n`);
const out = values.out ?? join(ROOT, 'test', 'bench', 'results', values.real ? 'latest-real.md' : 'latest.md');
mkdirSync(join(out, '..'), { recursive: true });
writeFileSync(out, `${text}\n`);
log(`written to ${out}`);
