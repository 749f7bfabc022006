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
// read again, all in one `notmuch show`, and tagged in one `tag --batch`.

export const TRAILERS = { 'acked-by': 'acked', 'reviewed-by': 'reviewed', 'tested-by': 'tested' } as const;
const FAMILY: readonly MailTag[] = ['acked', 'reviewed', 'tested', 'replied'];

export interface TrailersOptions {
  dryRun?: boolean;
  /** Read every patch thread again, not only those with new mail. */
  full?: boolean;
  /** The revision a sync read at its start: nothing newer than the mark, no call at all. */
  revision?: { uuid: string; lastmod: number };
}

export interface TrailersResult {
  /** Whole pass (first run, another database, other projects) or only changed threads. */
  mode: 'full' | 'changed' | 'nothing new';
  threads: number;
  changes: { project: string; msgid: string; add: string[]; remove: string[] }[];
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
  const { notmuch, scheme, store } = session;
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
  const patchMail = projects.map((p) => `tag:${scheme.project(p)}`).join(' or ');
  // Whole threads of every message changed since the mark, in threads that hold patch mail.
  const incremental = same && revision.uuid === mark.uuid;
  result.mode = incremental ? 'changed' : 'full';
  // A subquery with spaces in it is quoted (notmuch-search-terms(7)); tag names hold no quote.
  const query = incremental ? `lastmod:${mark.lastmod + 1}..${revision.lastmod} and thread:"{${patchMail}}"` : patchMail;
  const threads = await notmuch.showThreads(query);
  result.threads = threads.length;
  const me = new Set(await notmuch.userAddresses());
  for (const thread of threads) {
    for (const change of threadChanges(thread as ThreadNode[], projects, me, session)) result.changes.push(change);
  }
  if (options.dryRun) return done();
  await notmuch.tag(result.changes);
  // Our own tagging moves lastmod on; when nothing else changed meanwhile, start the next run after it.
  let next = revision.lastmod;
  if (result.changes.length) {
    const after = await notmuch.revision();
    const [changed] = await notmuch.count([`lastmod:${revision.lastmod + 1}..${after.lastmod}`]);
    if (after.uuid === revision.uuid && changed === new Set(result.changes.map((c) => c.msgid)).size) next = after.lastmod;
  }
  setTrailersMark(store, { uuid: revision.uuid, lastmod: next, projects: key });
  return done();
}

/** The tag changes one thread asks for: each patch's review family set to what its replies say. */
function threadChanges(thread: ThreadNode[], projects: readonly string[], me: ReadonlySet<string>, session: Session): TrailersResult['changes'] {
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
  const out: TrailersResult['changes'] = [];
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
