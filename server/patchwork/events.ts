import { PER_PAGE, type PatchworkClient } from './client.js';
import type { PwEvent } from './types.js';

// Reading Patchwork's event log since a mark. Facts (patchwork-api NOTES §5):
// `since` is inclusive and compared with naive UTC dates with microseconds;
// the default order is newest first; a repeated `category` keeps only its
// last value, so we read all categories and filter here; events are never
// purged (only a deleted patch takes its own with it).
//
// The mark is the server's time (its Date header) when a sync read the log,
// not the date of the newest event: an event is dated when Patchwork makes
// it and may be committed a little later, so every sync reads back to
// SKEW_MS before the mark, and the mark keeps the ids of the events of that
// window already seen. Marking the server's time keeps that window to the
// few seconds before the last sync, however busy the project once was (a
// mail import makes hundreds of events in a second).

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

export interface EventMark {
  /** The server's time (naive UTC) of the read the mark comes from; null: read the whole log. */
  date: string | null;
  /** Every event dated SKEW_MS before `date` or later, as that read found them. */
  ids: number[];
}

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

/** The start of the window the next read goes back to. */
const windowStart = (date: string): string => shift(date, -SKEW_MS);
const byDate = (a: PwEvent, b: PwEvent): number => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.id - b.id);

/** The mark of a read at server time `at`: the ids of what it read in the window before `at`. */
function markAt(at: string, read: readonly PwEvent[]): EventMark {
  const floor = windowStart(at);
  return { date: at, ids: [...new Set(read.filter((e) => e.date.slice(0, 19) >= floor).map((e) => e.id))] };
}

/**
 * Whether the window since `floor` still holds exactly the events of the
 * mark: one request, a page of one event, whose page count is the number
 * of events and whose item is the newest. A late event, a new one or a
 * gone one changes the count or the newest (a patch deleted in the same
 * few seconds as a late event arrives would fool it).
 */
async function unchanged(client: PatchworkClient, projectId: number, floor: string, ids: readonly number[]): Promise<boolean> {
  const { items, last } = await client.page<PwEvent>('events', { project: projectId, since: floor, per_page: 1 });
  const count = items.length === 0 ? 0 : last;
  return count === ids.length && (count === 0 || ids.includes(items[0]!.id));
}

/**
 * The events since the mark not seen yet, and the next mark. A window too
 * full for one page (a sync right after a mail import) is checked by its
 * count first, so that a sync with nothing new still costs one request.
 */
export async function readEvents(client: PatchworkClient, projectId: number, mark: EventMark): Promise<EventRead> {
  const floor = mark.date ? windowStart(mark.date) : undefined;
  if (floor && mark.ids.length >= PER_PAGE && (await unchanged(client, projectId, floor, mark.ids))) return { events: [], read: 0, next: mark };
  const byId = new Map<number, PwEvent>();
  let at: string | undefined;
  await client.eachPage<PwEvent>('events', { project: projectId, order: 'date', since: floor }, (items, page, serverTime) => {
    for (const e of items) byId.set(e.id, e); // a page may repeat one when events arrive meanwhile
    if (page === 1) at = serverTime;
  });
  const all = [...byId.values()].sort(byDate);
  const seen = new Set(mark.ids);
  const fresh = all.filter((e) => !seen.has(e.id) && WATCHED.has(e.category));
  // Without a Date header, the newest event stands in for the server's time.
  at ??= all.at(-1)?.date.slice(0, 19);
  if (mark.date && (!at || at < mark.date)) at = mark.date;
  return { events: fresh, read: all.length, next: at ? markAt(at, all) : { date: null, ids: [] } };
}

/**
 * The mark a full sync starts from: the server's time of its events answer
 * (so that the next sync reads only what came after it, give or take the
 * window), with the events of the window before it marked seen: the
 * listing that follows covers them. A window fuller than a page (a mail
 * import just before) is read whole, so that the next sync need not.
 */
export async function markEvents(client: PatchworkClient, projectId: number): Promise<EventMark> {
  // The server's time of an answer a moment ago (the project's lookup) bounds
  // the window from below: only the events since then are read, usually
  // none, instead of a page of 250 the server must build (most of a
  // second of its CPU, as much as a page of patches).
  const before = client.recentServerTime(60_000);
  if (before) {
    let at: string | undefined;
    const read: PwEvent[] = [];
    await client.eachPage<PwEvent>('events', { project: projectId, since: windowStart(before) }, (items, page, serverTime) => {
      read.push(...items);
      if (page === 1) at = serverTime;
    });
    return markAt(at ?? before, read);
  }
  const newest = await client.page<PwEvent>('events', { project: projectId, per_page: PER_PAGE });
  const at = newest.serverTime ?? newest.items.map((e) => e.date.slice(0, 19)).sort().at(-1);
  if (!at) return { date: null, ids: [] };
  const floor = windowStart(at);
  let read = newest.items;
  if (newest.last > 1 && read.every((e) => e.date.slice(0, 19) >= floor)) {
    read = [];
    await client.eachPage<PwEvent>('events', { project: projectId, since: floor }, (items) => void read.push(...items));
  }
  return markAt(at, read);
}
