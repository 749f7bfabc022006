import { readFileSync } from 'node:fs';
import { timeline } from './timeline.js';

// One line on stderr at exit for the benchmark (PWNM_SYNC_STATS=1): peak
// memory, this process's CPU and its children's (notmuch), and when the
// sync's own work began and ended, counted from the process's start.

/** CPU seconds of the child processes this process has waited for: /proc/self/stat's cutime and cstime, in USER_HZ (100). */
function childCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return undefined;
  }
}

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return Math.round((u.user + u.system) / 1000);
};

/** Call once the CLI's own modules are loaded: that moment is `loadedMs`. */
export function printStatsAtExit(): void {
  const loaded = { loadedMs: Math.round(performance.now()), loadedCpuMs: cpuMs() };
  process.on('exit', () => {
    const sync = timeline.spans.find((s) => s.lane === 'sync');
    const stats = {
      maxRssKb: process.resourceUsage().maxRSS,
      ...loaded,
      exitMs: Math.round(performance.now()),
      exitCpuMs: cpuMs(),
      childCpuS: childCpuSeconds(),
      ...(sync ? { syncStartMs: Math.round(sync.start), syncEndMs: Math.round(sync.end) } : {}),
    };
    process.stderr.write(`pwnm-sync-stats ${JSON.stringify(stats)}\n`);
  });
}
