import type { Session } from '../session.js';
import { trailersMark, setTrailersMark } from '../store/trailers.js';
import type { MailTag } from '../tags.js';
import { addressOf } from './reply.js';
import { bodyText } from './rules.js';

// Review trailers as tags, from the mail alone (Patchwork's API has none:
// DESIGN §8). A patch gets pw-PROJECT-acked/-reviewed/-tested when a reply
// to it, or to its cover letter (which counts for every patch under it, as
// b4 counts), carries such a trailer from someone other than the patch's
// author, whose address is the reply's sender. pw-PROJECT-replied: one of
// the user's addresses wrote a reply in the thread. Incremental: only the
// threads with a message changed since the last run (notmuch's lastmod) are
// read again. A whole pass reads only the threads where a tag can come or
// go: those with a reply or cover letter, and those whose patches carry a
// review tag. Either way the threads are listed first, then shown a chunk
// at a time (a thread's JSON carries every body), and tagged in batches
// short enough that Emacs and `notmuch new` never wait long for the lock.

export const TRAILERS = { 'acked-by': 'acked', 'reviewed-by': 'reviewed', 'tested-by': 'tested' } as const;
const FAMILY: readonly MailTag[] = ['acked', 'reviewed', 'tested', 'replied'];
/** Threads per `notmuch show`: bounds the JSON held at once. */
const THREAD_CHUNK = 250;
/** Tag changes per `notmuch tag --batch`: about a second of notmuch's writing. */
const TAG_BATCH = 1000;

export interface TrailersOptions {
  dryRun?: boolean;
  /** Read every patch thread again, not only those with new mail. */
  full?: boolean;
  /** The revision a sync read at its start: nothing newer than the mark, no call at all. */
  revision?: { uuid: string; lastmod: number };
  /** Told of each change once applied (dry run: once found), which then stays out of `changes`: a first run makes many. */
  onChange?: (change: TrailerChange) => void;
  /** Threads per `notmuch show` and changes per `notmuch tag` (tests set them low). */
  threadChunk?: number;
  tagBatch?: number;
}

export interface TrailerChange { project: string; msgid: string; add: string[]; remove: string[] }

export interface TrailersResult {
  /** Whole pass (first run, another database, other projects) or only changed threads. */
  mode: 'full' | 'changed' | 'nothing new';
  threads: number;
  changes: TrailerChange[];
  notmuchCalls: number;
}

/** What a sync reports of it: the counts, not the changes. */
export type TrailersSummary = Omit<TrailersResult, 'changes'> & { retagged: number };

interface ShownMessage { id: string; tags: string[]; headers: Record<string, string>; body?: unknown[] }
type ThreadNode = [ShownMessage | null, ThreadNode[]];

/** A review trailer given in a reply: its kind and the address it names. */
export interface Trailer { kind: 'acked' | 'reviewed' | 'tested'; address: string }

/**
 * The trailers of a reply's own text, as b4 reads them: a `Name-by:` line
 * at the start of a line, not quoted (`>`), before the signature (`-- `).
 */
export function parseTrailers(text: string): Trailer[] {
  const out: Trailer[] = [];
  for (const line of text.split('\n')) {
    if (line === '-- ' || line === '--') break;
    const m = /^(acked-by|reviewed-by|tested-by):\s*(.*\S)\s*$/i.exec(line);
    if (!m) continue;
    const address = /<([^<>\s]+@[^<>\s]+)>/.exec(m[2]!)?.[1] ?? /^(\S+@\S+)$/.exec(m[2]!)?.[1];
    if (address) out.push({ kind: TRAILERS[m[1]!.toLowerCase() as keyof typeof TRAILERS], address: address.toLowerCase() });
  }
  return out;
}

export async function runTrailers(session: Session, options: TrailersOptions = {}): Promise<TrailersResult> {
  const { notmuch, store } = session;
  const callsBefore = notmuch.calls;
  const projects = [...new Set(session.select().map((s) => s.project))].sort();
  const result: TrailersResult = { mode: 'nothing new', threads: 0, changes: [], notmuchCalls: 0 };
  const done = (): TrailersResult => ({ ...result, notmuchCalls: notmuch.calls - callsBefore });
  if (projects.length === 0) return done();
  const mark = trailersMark(store);
  const key = projects.join(' ');
  const same = !options.full && mark && mark.projects === key;
  // A sync passes the revision it read: nothing newer than the mark costs no call.
  if (same && options.revision && options.revision.uuid === mark.uuid && options.revision.lastmod <= mark.lastmod) return done();
  const revision = await notmuch.revision();
  if (same && revision.uuid === mark.uuid && revision.lastmod <= mark.lastmod) return done();
  const incremental = same && revision.uuid === mark.uuid;
  result.mode = incremental ? 'changed' : 'full';
  const threadIds: (number | string)[] = [];
  const keep = (id: string): void => void threadIds.push(packThread(id));
  if (incremental) await eachChangedThread(notmuch, projects, session, mark.lastmod, revision.lastmod, keep);
  else await notmuch.eachThread(wholeQuery(projects, session), keep);
  result.threads = threadIds.length;
  const me = new Set(await notmuch.userAddresses());
  const writer = pipelinedTagger(notmuch, options.tagBatch ?? TAG_BATCH, Boolean(options.dryRun), options.onChange ?? ((c: TrailerChange) => void result.changes.push(c)));
  /** Messages retagged (a message of two projects has two changes). */
  let messages = 0;
  const chunk = options.threadChunk ?? THREAD_CHUNK;
  try {
    for (let i = 0; i < threadIds.length; i += chunk) {
      const changes = (await notmuch.showThreads(threadIds.slice(i, i + chunk).map(unpackThread).join(' or ')))
        .flatMap((thread) => threadChanges(thread as ThreadNode[], projects, me, session));
      messages += new Set(changes.map((c) => c.msgid)).size;
      await writer.add(changes);
    }
    await writer.drain();
  } finally {
    // A failed read must not leave a batch half-reported.
    await writer.settled();
  }
  if (options.dryRun) return done();
  // Our own tagging moves lastmod on; when nothing else changed meanwhile, start the next run after it.
  let next = revision.lastmod;
  if (messages) {
    const after = await notmuch.revision();
    const [changed] = await notmuch.count([`lastmod:${revision.lastmod + 1}..${after.lastmod}`]);
    if (after.uuid === revision.uuid && changed === messages) next = after.lastmod;
  }
  setTrailersMark(store, { uuid: revision.uuid, lastmod: next, projects: key });
  return done();
}

/**
 * A thread id as a number when it is notmuch's `thread:` and 16 hex digits
 * (a whole pass of a long history lists hundreds of thousands; a number
 * takes 8 bytes, the string about 50), else as it came.
 */
function packThread(id: string): number | string {
  const n = /^thread:[0-9a-f]{16}$/.test(id) ? parseInt(id.slice(7), 16) : NaN;
  return Number.isSafeInteger(n) ? n : id;
}

const unpackThread = (t: number | string): string => (typeof t === 'number' ? `thread:${t.toString(16).padStart(16, '0')}` : t);

/**
 * Tag changes in batches of at most `size`, written while the caller goes
 * on reading the next threads (notmuch lets a reader go on through one
 * commit). Group commit: an idle writer takes what is queued at once, a
 * busy one up to a batch when it is done, so the first write starts after
 * the first chunk of threads instead of after a full batch, and the last
 * one is short.
 */
function pipelinedTagger(notmuch: Session['notmuch'], size: number, dryRun: boolean, onTagged: (c: TrailerChange) => void) {
  const queue: TrailerChange[] = [];
  let writing: Promise<void> = Promise.resolve();
  let busy = false;
  const write = async (): Promise<void> => {
    await writing; // a failed batch stops the pass here
    const batch = queue.splice(0, size);
    busy = true;
    writing = (dryRun ? Promise.resolve() : notmuch.tag(batch)).then(() => batch.forEach(onTagged)).finally(() => { busy = false; });
  };
  return {
    /** Queue one chunk's changes; write them now when the writer is idle, else when a batch is full. */
    async add(changes: readonly TrailerChange[]): Promise<void> {
      queue.push(...changes);
      if (queue.length > 0 && (!busy || queue.length >= size)) await write();
    },
    /** Write all that is queued. */
    async drain(): Promise<void> {
      while (queue.length > 0) await write();
      await writing;
    },
    settled: (): Promise<void> => writing,
  };
}

/** The projects' patch mail. */
const patchMail = (projects: readonly string[], session: Session): string => projects.map((p) => `tag:${session.scheme.project(p)}`).join(' or ');

/** Threads per query that keeps those holding patch mail: a query's terms, not a subquery. */
const FILTER_CHUNK = 1000;

/**
 * Each thread with a message changed since the mark that holds patch mail.
 * The changed messages' threads first, then those of them with patch mail:
 * one query `lastmod:... and thread:{patch mail}` expands the subquery over
 * every patch mail of the projects (41 s at a million, for 150 threads).
 */
async function eachChangedThread(notmuch: Session['notmuch'], projects: readonly string[], session: Session, from: number, to: number, onThread: (id: string) => void): Promise<void> {
  const changed: string[] = [];
  await notmuch.eachThread(`lastmod:${from + 1}..${to}`, (id) => changed.push(id));
  for (let i = 0; i < changed.length; i += FILTER_CHUNK) {
    await notmuch.eachThread(`(${changed.slice(i, i + FILTER_CHUNK).join(' or ')}) and (${patchMail(projects, session)})`, onThread);
  }
}

/**
 * The threads where a review tag can come or go: those with a message
 * that is not patch mail (a reply, a cover letter), and those whose patch
 * mail carries a review tag (a thread of patches only loses it).
 */
function wholeQuery(projects: readonly string[], session: Session): string {
  const patches = patchMail(projects, session);
  const reviewed = projects.flatMap((p) => FAMILY.map((f) => `tag:${session.scheme.mail(p, f)}`)).join(' or ');
  // A subquery with spaces in it is quoted (notmuch-search-terms(7)); tag names hold no quote.
  return `(thread:"{${patches}}" and not (${patches})) or ((${patches}) and (${reviewed}))`;
}

/** The tag changes one thread asks for: each patch's review family set to what its replies say. */
function threadChanges(thread: ThreadNode[], projects: readonly string[], me: ReadonlySet<string>, session: Session): TrailerChange[] {
  const { scheme } = session;
  const tracked = new Set(projects.map((p) => scheme.project(p)));
  const isPatch = (m: ShownMessage): boolean => m.tags.some((t) => tracked.has(t));
  const sender = (m: ShownMessage): string => addressOf(m.headers.From ?? '');
  /** Every message under `nodes`, not entering the subtrees of patches (theirs are their own). */
  const replies = (nodes: ThreadNode[], out: ShownMessage[] = []): ShownMessage[] => {
    for (const [m, below] of nodes) {
      if (m && isPatch(m)) continue;
      if (m) out.push(m);
      replies(below, out);
    }
    return out;
  };
  // Each patch with the replies that count for it: its own, and its cover letter's.
  const patches: { message: ShownMessage; replies: ShownMessage[] }[] = [];
  let repliedByMe = false;
  const walk = (nodes: ThreadNode[], cover: ShownMessage[], parent: ShownMessage | null): void => {
    for (const [m, below] of nodes) {
      if (!m) { walk(below, cover, parent); continue; }
      if (parent && !isPatch(m) && me.has(sender(m))) repliedByMe = true;
      if (isPatch(m)) {
        patches.push({ message: m, replies: [...replies(below), ...cover] });
        walk(below, [], m);
      } else {
        // A message with patches among its direct replies is their cover letter.
        const hasPatches = below.some(([c]) => c && isPatch(c));
        walk(below, hasPatches ? replies(below) : cover, m);
      }
    }
  };
  walk(thread, [], null);
  const out: TrailerChange[] = [];
  for (const { message, replies: rs } of patches) {
    const author = sender(message);
    const given = new Set<MailTag>();
    for (const r of rs) {
      const from = sender(r);
      for (const t of parseTrailers(bodyText(r.body))) if (t.address === from && t.address !== author) given.add(t.kind);
    }
    if (repliedByMe) given.add('replied');
    for (const project of projects) {
      if (!message.tags.includes(scheme.project(project))) continue;
      const want = FAMILY.filter((f) => given.has(f)).map((f) => scheme.mail(project, f));
      const all = FAMILY.map((f) => scheme.mail(project, f));
      const add = want.filter((t) => !message.tags.includes(t));
      const remove = all.filter((t) => !want.includes(t) && message.tags.includes(t));
      if (add.length || remove.length) out.push({ project, msgid: message.id, add, remove });
    }
  }
  return out;
}

export function formatTrailers(r: TrailersResult, dryRun: boolean): string {
  const lines = r.changes.map((c) => `id:${c.msgid} (${c.project}): ${[...c.add.map((t) => `+${t}`), ...c.remove.map((t) => `-${t}`)].join(' ')}`);
  const verb = dryRun ? 'would retag' : 'retagged';
  lines.push(r.mode === 'nothing new' ? 'trailers: no mail since the last run' : `trailers: ${r.threads} thread${r.threads === 1 ? '' : 's'} read (${r.mode}), ${verb} ${r.changes.length} patch${r.changes.length === 1 ? '' : 'es'}, ${r.notmuchCalls} notmuch calls`);
  return lines.join('\n');
}
