// What one run of the CLI under the benchmark says about itself: the stats
// line PWNM_SYNC_STATS prints at exit and the `--timings` timeline.

import type { Notmuch } from '../../server/notmuch/notmuch.js';

export interface Row { step: string; wallMs: number; loadMs?: number; http?: number; notmuch?: number; rssMb?: number; serverCpuS?: number; note?: string }

export interface RunStats {
  rssMb: number;
  /** From the process's start to the start of the sync's own work (Node, module loading, config). */
  loadMs: number | undefined;
  /** The `--timings` timeline as printed. */
  timeline: string;
}

export function runStats(stderr: string): RunStats {
  const stats = /pwnm-sync-stats (\{.*\})/.exec(stderr);
  const parsed = stats ? (JSON.parse(stats[1]!) as { maxRssKb: number; syncStartMs?: number }) : undefined;
  const start = stderr.indexOf('timeline (');
  const end = stderr.indexOf('  peak rss seen', start);
  return {
    rssMb: parsed ? parsed.maxRssKb / 1024 : NaN,
    loadMs: parsed?.syncStartMs,
    timeline: start >= 0 && end > start ? stderr.slice(start, stderr.indexOf('\n', end) + 1) : '',
  };
}

/**
 * Floor 2 of a first sync: one notmuch tag batch putting on every patch mail
 * the tags its first sync will (`patchwork`, the project, the state), timed,
 * then undone (by `undo`, else by a second batch) so that the sync starts
 * from the same mail.
 */
export async function tagFloor(notmuch: Notmuch, project: string, patches: readonly { msgid: string; state: string }[], undo?: () => Promise<void>): Promise<Row> {
  const changes = patches.map((p) => ({ msgid: p.msgid.slice(1, -1), add: ['patchwork', `pw-${project}`, `pw-${project}-${p.state}`], remove: [] as string[] }));
  const t0 = performance.now();
  await notmuch.tag(changes);
  const wallMs = performance.now() - t0;
  if (undo) await undo();
  else await notmuch.tag(changes.map((c) => ({ msgid: c.msgid, add: [], remove: c.add })));
  return { step: 'tag floor (one notmuch tag --batch)', wallMs, notmuch: 1, note: `${(wallMs / patches.length).toFixed(2)} ms per message` };
}

export const seconds = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);

/** The table of one size, markdown. */
export function table(rows: readonly Row[], real: boolean): string[] {
  const head = real
    ? ['| step | wall | module load | HTTP requests | server CPU | notmuch calls | peak RSS | notes |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |']
    : ['| step | wall | module load | HTTP requests | notmuch calls | peak RSS | notes |', '| --- | ---: | ---: | ---: | ---: | ---: | --- |'];
  return [...head, ...rows.map((r) => {
    const cells = [r.step, Number.isNaN(r.wallMs) ? '' : seconds(r.wallMs), r.loadMs === undefined ? '' : seconds(r.loadMs), String(r.http ?? '')];
    if (real) cells.push(r.serverCpuS === undefined ? '' : `${r.serverCpuS.toFixed(2)} s`);
    cells.push(String(r.notmuch ?? ''), r.rssMb ? `${Math.round(r.rssMb)} MB` : '', r.note ?? '');
    return `| ${cells.join(' | ')} |`;
  })];
}
