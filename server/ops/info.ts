import { PwnmError } from '../errors.js';
import type { PwCheck } from '../patchwork/types.js';
import type { Session } from '../session.js';
import type { PatchRow } from '../store/store.js';
import { dependencyChain } from '../patchwork/dependencies.js';
import { stateName } from '../states.js';
import { bundleRows } from '../store/bundles.js';
import { recordChecks, storedChecks, type StoredCheck } from '../store/checks.js';
import { findPatches, messageIdOf, refreshPatches } from './lookup.js';
import { listPending } from './pending.js';
import { idQuery } from '../notmuch/encoding.js';
import { learntMe } from '../sync/bundles.js';
import type { MailTag } from '../tags.js';
import { needsMyReviewQuery } from './counts.js';

// What we know of a message's patches: state, archived, delegate, series,
// pending changes from the state database, and the CI checks from Patchwork.

export interface CheckInfo { context: string; state: string; targetUrl: string | null; description: string | null; date: string }

export interface PatchInfo {
  instance: string;
  project: string;
  patchId: number;
  messageId: string;
  name: string | null;
  date: string | null;
  state: string;
  stateName: string;
  tag: string;
  archived: boolean;
  delegate: string | null;
  check: string | null;
  /**
   * Newest result per CI context; null when Patchwork cannot be asked now.
   * With `checks: false`, those the state database holds (from check-created
   * events and the last read), null when it holds none.
   */
  checks: CheckInfo[] | null;
  series: { id: number; name: string | null; version: number | null; part: number | null; total: number | null } | null;
  /**
   * The series to apply before this one (Depends-on:, from API 1.4 or the
   * mail), dependencies first; null when there is no series or Patchwork
   * cannot be asked now (asked with the checks).
   */
  dependsOn: { id: number; name: string | null }[] | null;
  webUrl: string | null;
  mboxUrl: string | null;
  pending: { id: string; kind: string; state: string | null; reason: string }[];
  /** The bundles (as of the last sync) that hold the patch, with their tags. */
  bundles: { name: string; owner: string; tag: string }[];
  /**
   * From the mail (trailers.ts): the review tags the message carries
   * (acked, reviewed, tested, replied), and whether it needs my review;
   * null with `checks: false`.
   */
  review: { tags: MailTag[]; needsMyReview: boolean } | null;
}

export interface InfoOptions {
  /** Re-read Patchwork first (by patch id, or by the msgid filter for a patch not seen yet). */
  refresh?: boolean;
  /** When the state database does not know the message, ask Patchwork (the command line's default). */
  lookUp?: boolean;
  /** false: the CI checks the state database holds, not Patchwork's (a request; e.g. to open the web page). */
  checks?: boolean;
}

/** The newest result per CI context, kept for the next stored answer; null when Patchwork cannot be asked now. */
async function checksOf(session: Session, instance: string, patchId: number): Promise<CheckInfo[] | null> {
  try {
    const client = await session.client(session.instance(instance));
    const all: PwCheck[] = [];
    await client.eachPage<PwCheck>(`patches/${patchId}/checks`, {}, (items) => void all.push(...items));
    const newest = new Map<string, PwCheck>();
    for (const c of all.sort((a, b) => a.id - b.id)) newest.set(`${c.user?.username ?? ''} ${c.context}`, c);
    const checks = [...newest.values()].map((c) => ({ id: c.id, owner: c.user?.username ?? '', context: c.context, state: c.state, targetUrl: c.target_url, description: c.description, date: c.date }));
    recordChecks(session.store, instance, patchId, checks, true);
    return checks.map(checkInfo);
  } catch (err) {
    if (err instanceof PwnmError && err.code === 'CANCELLED') throw err;
    return null;
  }
}

const checkInfo = (c: StoredCheck): CheckInfo => ({ context: c.context, state: c.state, targetUrl: c.targetUrl, description: c.description, date: c.date });

/** The results the state database holds (check-created events, the last read); null when it holds none. */
function storedChecksOf(session: Session, instance: string, patchId: number): CheckInfo[] | null {
  const stored = storedChecks(session.store, instance, patchId);
  return stored.length ? stored.map(checkInfo) : null;
}

/** The series `seriesId` needs first, or null when Patchwork cannot be asked now. */
async function dependsOnOf(session: Session, instance: string, seriesId: number): Promise<PatchInfo['dependsOn']> {
  try {
    const client = await session.client(session.instance(instance));
    return (await dependencyChain(client, seriesId)).map((s) => ({ id: s.id, name: s.name }));
  } catch (err) {
    if (err instanceof PwnmError && err.code === 'CANCELLED') throw err;
    return null;
  }
}

/** The rows to describe: stored, refreshed, or looked up on Patchwork. */
async function rowsOf(session: Session, msgid: string, options: InfoOptions): Promise<PatchRow[]> {
  const stored = session.store.patchesByMsgid(msgid);
  if (stored.length && options.refresh) await refreshPatches(session, stored);
  else if (!stored.length && (options.refresh || options.lookUp)) return findPatches(session, msgid);
  return session.store.patchesByMsgid(msgid);
}

export async function patchInfo(session: Session, messageId: string, options: InfoOptions = {}): Promise<PatchInfo[]> {
  const msgid = messageIdOf(messageId);
  const rows = await rowsOf(session, msgid, options);
  if (rows.length === 0) throw new PwnmError('NOT_FOUND', `no patch with Message-ID ${msgid} is known; sync, or ask with refresh: true`);
  const patches: PatchInfo[] = [];
  for (const r of rows) patches.push(await describe(session, r, options.checks !== false));
  if (options.checks !== false) await addReview(session, msgid, patches);
  return patches;
}

const REVIEW_TAGS: readonly MailTag[] = ['acked', 'reviewed', 'tested', 'replied'];

/** The review tags and "needs my review" of each patch: one dump, one count for them all. */
async function addReview(session: Session, msgid: string, patches: PatchInfo[]): Promise<void> {
  const { notmuch, scheme, store } = session;
  const tags = (await notmuch.dump(idQuery(msgid))).get(msgid) ?? [];
  const queries = patches.map((p) => {
    const inst = session.instance(p.instance);
    const me = inst.me ?? learntMe(session, inst.name);
    const elsewhere = p.delegate && p.delegate !== me ? [msgid] : [];
    return `${idQuery(msgid)} and (${needsMyReviewQuery(scheme, p.project, store.knownStates(p.instance, p.project), elsewhere)})`;
  });
  const numbers = await notmuch.count(queries);
  patches.forEach((p, i) => {
    p.review = { tags: REVIEW_TAGS.filter((f) => tags.includes(scheme.mail(p.project, f))), needsMyReview: (numbers[i] ?? 0) > 0 };
  });
}

async function describe(session: Session, r: PatchRow, withChecks: boolean): Promise<PatchInfo> {
  return {
    instance: r.instance, project: r.project, patchId: r.patch_id, messageId: r.msgid, name: r.name, date: r.date,
    state: r.remote, stateName: stateName(r.remote), tag: session.scheme.state(r.project, r.remote), archived: Boolean(r.archived),
    delegate: r.delegate, check: r.check_state, checks: withChecks ? await checksOf(session, r.instance, r.patch_id) : storedChecksOf(session, r.instance, r.patch_id),
    series: r.series_id === null ? null : { id: r.series_id, name: r.series_name, version: r.series_version, part: r.series_part, total: r.series_total },
    dependsOn: withChecks && r.series_id !== null ? await dependsOnOf(session, r.instance, r.series_id) : null,
    webUrl: r.web_url, mboxUrl: r.mbox,
    pending: listPending(session, { instance: r.instance, project: r.project, msgid: r.msgid }).map((x) => ({ id: x.id, kind: x.kind, state: x.state, reason: x.reason })),
    bundles: bundleRows(session.store, r.instance).filter((b) => b.project === r.project && b.remote.includes(r.msgid)).map((b) => ({ name: b.name, owner: b.owner, tag: b.tag })),
    review: null,
  };
}
