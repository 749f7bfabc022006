import type { PatchworkClient } from './client.js';
import type { PwEvent } from './types.js';

// Reading Patchwork's event log since a mark. Facts (patchwork-api NOTES §5):
// `since` is inclusive and compared with naive UTC dates with microseconds;
// a repeated `category` keeps only its last value, so we read all categories
// and filter here; events are never purged.

/** Events this close to the mark are re-read, in case the server committed them late. */
export const SKEW_MS = 5_000;

/**
 * Event categories that change what we keep. Not series-completed: a new
 * series reaches us through each patch's own patch-created event, which
 * brings the patch with its series, version and part (all that tags, the
 * supersede rule and patchInfo use); the series event carries only the
 * series, and acting on it would refetch patches we already have.
 */
export const WATCHED = new Set(['patch-created', 'patch-state-changed', 'patch-delegated', 'check-created']);

export interface EventMark { date: string | null; ids: number[] }

export interface EventRead {
  /** Watched events not seen before, oldest first. */
  events: PwEvent[];
  /** All events read, for reports. */
  read: number;
  next: EventMark;
}

function shift(date: string, ms: number): string {
  const base = new Date(`${date.slice(0, 19)}Z`).getTime() + ms;
  return new Date(base).toISOString().slice(0, 19);
}

export async function readEvents(client: PatchworkClient, projectId: number, mark: EventMark): Promise<EventRead> {
  const query: Record<string, string | number> = { project: projectId, order: 'date' };
  if (mark.date) query.since = shift(mark.date, -SKEW_MS);
  const all: PwEvent[] = [];
  await client.eachPage<PwEvent>('events', query, (items) => void all.push(...items));
  all.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.id - b.id));
  const seen = new Set(mark.ids);
  const fresh = all.filter((e) => !seen.has(e.id));
  const newest = all.at(-1)?.date ?? mark.date;
  // Remember every id inside the skew window of the new mark.
  const floor = newest ? shift(newest, -SKEW_MS) : '';
  const dates = new Map(all.map((e) => [e.id, e.date.slice(0, 19)]));
  const near = (id: number): boolean => (dates.get(id) ?? mark.date?.slice(0, 19) ?? '') >= floor;
  const ids = newest ? [...new Set([...mark.ids, ...dates.keys()])].filter(near) : [];
  return { events: fresh.filter((e) => WATCHED.has(e.category)), read: all.length, next: { date: newest, ids } };
}

/** Events read with the newest one, so that those inside its skew window count as seen. */
const MARK_PAGE = 250;

/**
 * The newest event of a project, as the mark a full sync starts from; null
 * when there is none. The events just before it are marked seen too: the
 * full list that follows covers them, and a mail import makes dozens of
 * events in the same second (real Patchwork), which would all be re-read.
 */
export async function newestEvent(client: PatchworkClient, projectId: number): Promise<EventMark> {
  const recent = await client.get<PwEvent[]>('events', { project: projectId, per_page: MARK_PAGE });
  const newest = recent.reduce<PwEvent | undefined>((a, e) => (!a || e.date > a.date ? e : a), undefined);
  if (!newest) return { date: null, ids: [] };
  const floor = shift(newest.date, -SKEW_MS);
  return { date: newest.date, ids: recent.filter((e) => e.date.slice(0, 19) >= floor).map((e) => e.id) };
}
