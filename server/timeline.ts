// A timeline of one run, for `sync --timings` and the benchmark: every
// HTTP request, notmuch call, page planned and store write, with its start
// and end (ms since the process started, so the first entry also says how
// long loading took) and the memory at its end. Off unless turned on: then
// `begin` hands back one shared no-op and nothing is recorded.

export interface Span {
  /** What kind of work: fetch, notmuch, plan, store, push, sync. */
  lane: string;
  what: string;
  start: number;
  end: number;
  /** Items handled: patches on a page, messages in a tag batch, rows written. */
  size?: number;
  rssMb?: number;
  heapMb?: number;
}

export type End = (size?: number) => void;

const NOOP: End = () => undefined;
const MB = 1024 * 1024;

export class Timeline {
  enabled = false;
  readonly spans: Span[] = [];

  /** Start a span; call what it returns when the work ends. */
  begin(lane: string, what: string, size?: number): End {
    if (!this.enabled) return NOOP;
    const start = performance.now();
    return (endSize?: number) => {
      const mem = process.memoryUsage();
      const n = endSize ?? size;
      this.spans.push({ lane, what, start, end: performance.now(), ...(n === undefined ? {} : { size: n }), rssMb: mem.rss / MB, heapMb: mem.heapUsed / MB });
    };
  }

  /** A span around a promise. */
  async around<T>(lane: string, what: string, work: Promise<T>, size?: (value: T) => number): Promise<T> {
    if (!this.enabled) return work;
    const end = this.begin(lane, what);
    try {
      const value = await work;
      end(size?.(value));
      return value;
    } catch (err) {
      end();
      throw err;
    }
  }

  clear(): void {
    this.spans.length = 0;
  }
}

/** The process's one timeline (a CLI run syncs once; the JSON-RPC server never turns it on). */
export const timeline = new Timeline();

/** How busy one lane was: time with at least one span open, and the gaps between its first start and last end. */
export interface LaneSummary { lane: string; spans: number; first: number; last: number; busy: number; idle: number; longestGap: number; size: number }

export function laneSummary(spans: readonly Span[], lane: string): LaneSummary | undefined {
  const mine = spans.filter((s) => s.lane === lane).sort((a, b) => a.start - b.start);
  if (mine.length === 0) return undefined;
  let busy = 0;
  let longestGap = 0;
  let openStart = mine[0]!.start;
  let openEnd = mine[0]!.end;
  for (const s of mine.slice(1)) {
    if (s.start > openEnd) {
      busy += openEnd - openStart;
      longestGap = Math.max(longestGap, s.start - openEnd);
      openStart = s.start;
    }
    openEnd = Math.max(openEnd, s.end);
  }
  busy += openEnd - openStart;
  const first = mine[0]!.start;
  const last = Math.max(...mine.map((s) => s.end));
  return { lane, spans: mine.length, first, last, busy, idle: last - first - busy, longestGap, size: mine.reduce((n, s) => n + (s.size ?? 0), 0) };
}

const ms = (n: number): string => n.toFixed(0).padStart(7);

/** The timeline as text: one line per span in start order, then one line per lane. */
export function formatTimeline(spans: readonly Span[]): string {
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  const lines = ['timeline (ms since the process started; memory at the end of each span)', '  start     end    took  lane     size  rss MB heap MB  what'];
  for (const s of sorted) {
    lines.push(`${ms(s.start)} ${ms(s.end)} ${ms(s.end - s.start)}  ${s.lane.padEnd(7)} ${(s.size === undefined ? '' : String(s.size)).padStart(5)} ${(s.rssMb ?? 0).toFixed(0).padStart(6)} ${(s.heapMb ?? 0).toFixed(0).padStart(7)}  ${s.what}`);
  }
  lines.push('lanes (busy: time with work in flight; idle: gaps between its first start and last end)');
  for (const lane of [...new Set(sorted.map((s) => s.lane))]) {
    const l = laneSummary(sorted, lane)!;
    lines.push(`  ${lane.padEnd(8)} ${String(l.spans).padStart(4)} spans, ${ms(l.first).trim()}-${ms(l.last).trim()} ms, busy ${l.busy.toFixed(0)} ms, idle ${l.idle.toFixed(0)} ms (longest gap ${l.longestGap.toFixed(0)} ms)${l.size ? `, ${l.size} items` : ''}`);
  }
  const peak = Math.max(0, ...sorted.map((s) => s.rssMb ?? 0));
  lines.push(`  peak rss seen ${peak.toFixed(0)} MB`);
  return lines.join('\n');
}
