import { readFileSync } from 'node:fs';
import { Notmuch } from '../../server/notmuch/notmuch.js';
import { LIST_API_VERSION, PatchworkClient } from '../../server/patchwork/client.js';
import { runCli } from '../helpers.js';
import { makeRealEnv, patchMsgids } from '../real/env.js';
import { realPatchwork, stopRealPatchwork } from '../real/harness.js';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lockWait, originalMissing, runOriginal } from './original.js';
import { runStats, tagFloor, type Row } from './stats.js';

// `npm run bench -- --real`: the benchmark's steps against the real
// Patchwork 3.1.3 of test/real (gunicorn, 2 sync workers, sqlite), with
// the generator's mail imported through Patchwork's parser. No added
// latency: the real server's own. Requests are counted from gunicorn's
// access log, so they are what the server saw.

const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** Clock ticks per second of /proc/PID/stat's times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** CPU seconds of this process's reaped children so far (cutime + cstime): notmuch's, for the tag floor. */
function childCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8');
  const rest = fields.slice(fields.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[13]) + Number(rest[14])) / USER_HZ;
}

/**
 * CPU seconds (user + system) the gunicorn workers have used so far. The
 * workers' pids come from gunicorn's log ("Booting worker with pid"); a
 * worker that has exited counts 0, so a step that restarts one undercounts.
 */
export function workerCpuSeconds(gunicornLog: string): number {
  let ticks = 0;
  for (const m of gunicornLog.matchAll(/Booting worker with pid: (\d+)/g)) {
    let stat: string;
    try { stat = readFileSync(`/proc/${m[1]!}/stat`, 'utf8'); } catch { continue; }
    // Fields after the command name (which may hold spaces), from field 3 on: utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / USER_HZ;
}

export async function benchReal(n: number, concurrency: number, firstOnly = false): Promise<{ rows: Row[]; setup: string; timeline: string }> {
  const pw = await realPatchwork();
  if (!pw) throw new Error('the real Patchwork cannot run here (see the line above)');
  let cleanup = (): Promise<void> => Promise.resolve();
  const requests = (): number => pw.log().split('\n').filter((l) => /"(GET|PATCH|POST|PUT) \/api\//.test(l) && l.includes('pwnm-sync/')).length;
  try {
    let t0 = performance.now();
    log(`importing ${n} generated patches through Patchwork's parser...`);
    const t = await makeRealEnv(pw, { patches: n, seed: 11 });
    cleanup = () => t.cleanup();
    const setup = `import of ${t.mails.length} mails (${n} patches) through Patchwork's parser and notmuch new: ${((performance.now() - t0) / 1000).toFixed(0)} s`;
    log(setup);
    t.writeConfig({ global: `concurrency = ${concurrency}\n` });
    const notmuch = new Notmuch({ env: t.env });
    const rows: Row[] = [];

    // Floor 1: every page of the project's patches, nothing done with them.
    t0 = performance.now();
    const cpu = workerCpuSeconds(pw.log());
    const client = new PatchworkClient({ instance: 'real', url: pw.url, concurrency });
    client.apiVersion = '1.3';
    let pages = 0;
    await client.eachPage('patches', { project: t.projectId, order: 'id' }, () => void pages++, { firstPages: 2, version: LIST_API_VERSION });
    await client.close();
    const fetchFloor = performance.now() - t0;
    rows.push({ step: 'fetch floor (all pages, per_page 250)', wallMs: fetchFloor, http: pages, serverCpuS: workerCpuSeconds(pw.log()) - cpu });

    const childCpu = childCpuSeconds();
    const floor2 = await tagFloor(notmuch, t.link, await t.patches());
    // The floor's notmuch process and the one undoing it: about half is the floor's.
    const tagCpuS = (childCpuSeconds() - childCpu) / 2;
    floor2.note = `${floor2.note ?? ''}; notmuch CPU about ${tagCpuS.toFixed(2)} s`;
    rows.push(floor2);
    const tagFloorMs = floor2.wallMs;
    // Both run on this machine: the server's CPU for the listing and notmuch's for the tagging, on 2 cores.
    const cpuFloorMs = ((rows[0]!.serverCpuS ?? 0) + tagCpuS) * 1000 / 2;
    rows.push({ step: 'CPU floor ((server CPU of the listing + notmuch CPU of one batch) / 2 cores)', wallMs: cpuFloorMs });

    // The same snapshot for the original: the mail and its untagged notmuch database, copied.
    const snapshot = join(t.dir, 'mail-original');
    await execa('cp', ['-a', join(t.dir, 'mail'), snapshot]);
    const snapshotConfig = join(t.dir, 'notmuch-original');
    writeFileSync(snapshotConfig, `[database]\npath=${snapshot}\n[new]\ntags=inbox\n[search]\nexclude_tags=\n`);
    const probeId = patchMsgids(t.mails)[0]!;

    let timeline = '';
    const step = async (name: string, args: string[]): Promise<Row> => {
      const before = requests();
      const cpuBefore = workerCpuSeconds(pw.log());
      const started = performance.now();
      const run = runCli(['-c', t.configFile, ...args, '--json', '--timings'], { env: { ...t.env, PWNM_SYNC_STATS: '1' } });
      const probed = name === 'first full sync' ? await lockWait(t.env, probeId, run) : undefined;
      const r = probed?.result ?? (await run);
      const wallMs = performance.now() - started;
      if (probed) log(`  longest wait of a concurrent notmuch tag: ${probed.longestMs.toFixed(0)} ms (${probed.probes} tags)`);
      if (r.exitCode !== 0) throw new Error(`pwnm-sync ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
      const json = JSON.parse(r.stdout) as { projects: { httpRequests: number; fetched: number; retagged: number; pushed: number }[]; notmuchCalls: number };
      const stats = runStats(r.stderr);
      timeline ||= stats.timeline;
      const p = json.projects[0]!;
      const row: Row = {
        step: name, wallMs, ...(stats.loadMs === undefined ? {} : { loadMs: stats.loadMs }), http: requests() - before, serverCpuS: workerCpuSeconds(pw.log()) - cpuBefore,
        notmuch: json.notmuchCalls, rssMb: stats.rssMb, note: `${p.fetched} fetched, ${p.retagged} retagged, ${p.pushed} pushed`
          + (probed ? `; a concurrent notmuch tag waited at most ${(probed.longestMs / 1000).toFixed(2)} s (${probed.probes} tags)` : ''),
      };
      rows.push(row);
      log(`  ${n} (real): ${name}: ${(wallMs / 1000).toFixed(2)} s`);
      return row;
    };

    const full = await step('first full sync', ['sync']);
    const floors: [string, number][] = [['fetch', fetchFloor], ['tag', tagFloorMs], ['CPU', cpuFloorMs]];
    const [bindName, floor] = floors.reduce((a, b) => (b[1] > a[1] ? b : a));
    full.note = `${full.note}; ${(full.wallMs / floor).toFixed(2)} x max(floors), the ${bindName} floor binds`;

    const missing = await originalMissing();
    if (missing) log(`the original pwnm-sync was not run: ${missing}`);
    else {
      const allBefore = pw.log().split('\n').filter((l) => /"GET \/api\//.test(l)).length;
      const cpuBefore = workerCpuSeconds(pw.log());
      const orig = await lockWait({ ...t.env, NOTMUCH_CONFIG: snapshotConfig }, probeId,
        runOriginal({ maildir: snapshot, url: pw.url, token: pw.maint.token, project: t.link, list: t.listEmail, env: t.env }));
      rows.push({
        step: 'the original pwnm-sync (fa4f19d), first sync, same snapshot', wallMs: orig.result,
        http: pw.log().split('\n').filter((l) => /"GET \/api\//.test(l)).length - allBefore, serverCpuS: workerCpuSeconds(pw.log()) - cpuBefore,
        note: `ours is ${(orig.result / full.wallMs).toFixed(2)}x faster; a concurrent notmuch tag waited at most ${(orig.longestMs / 1000).toFixed(2)} s (${orig.probes} tags)`,
      });
      log(`  the original: ${(orig.result / 1000).toFixed(2)} s`);
    }
    if (firstOnly) return { rows, setup, timeline };
    await step('second sync (reads back its own tags)', ['sync']);
    const idle = await step('no-change incremental sync', ['sync']);

    // The archive check alone: its count request, 20 times.
    const checkCpu = workerCpuSeconds(pw.log());
    const checker = new PatchworkClient({ instance: 'real', url: pw.url, concurrency: 1 });
    checker.apiVersion = '1.3';
    for (let i = 0; i < 20; i++) await checker.page('patches', { project: t.projectId, archived: 'false', per_page: 1 });
    await checker.close();
    const checkCpuS = (workerCpuSeconds(pw.log()) - checkCpu) / 20;
    rows.push({ step: 'the archive check alone (one count request), mean of 20', wallMs: NaN, http: 1, serverCpuS: checkCpuS });
    // A week of daily syncs: before, a full listing every 7 days (full_every = 7) and 6 syncs of the events alone;
    // after, 7 syncs of the events and the archive check.
    const eventsCpuS = Math.max(0, (idle.serverCpuS ?? 0) - checkCpuS);
    const weekBefore = (full.serverCpuS ?? 0) + 6 * eventsCpuS;
    const weekAfter = 7 * (eventsCpuS + checkCpuS);
    rows.push({ step: 'server CPU of a week of daily syncs', wallMs: NaN, serverCpuS: weekAfter, note: `before (full_every = 7): ${weekBefore.toFixed(2)} s; after (archive check, full_every off): ${weekAfter.toFixed(2)} s` });

    // 20 changes on the server (through its API, as a maintainer on the web would) and 20 local ones.
    const ids = patchMsgids(t.mails);
    for (const id of ids.slice(0, 20)) await t.setState(id, 'accepted');
    await notmuch.tag(ids.slice(-20).map((id) => ({ msgid: id, add: [`pw-${t.link}-under-review`], remove: [`pw-${t.link}-new`] })));
    await step('incremental, 20 server + 20 local changes', ['sync']);
    await step('--local-only, nothing to do', ['sync', '--local-only']);
    return { rows, setup, timeline };
  } finally {
    await cleanup();
    await stopRealPatchwork(false);
  }
}
