import { PwnmError } from '../errors.js';
import { notmuchMessageId } from '../mail/message-id.js';
import { idQuery } from '../notmuch/encoding.js';
import type { Session } from '../session.js';
import type { PatchRow } from '../store/store.js';
import { sync } from '../sync/engine.js';

// `pwnm-sync fill`: the patches a sync found on Patchwork but not in notmuch
// (never tagged), fetched from Patchwork as mail and added with `notmuch
// insert`, then tagged by a sync of just those messages. A series whose
// every patch is missing comes as one series mbox plus its cover letter's;
// any other patch as its own mbox. Patchwork's mbox keeps the original
// headers (Message-ID, In-Reply-To, References, Date, From), so the mail
// threads with the replies the user already has.

export interface FillOptions {
  projects?: string[];
  /** Only patches dated on or after this (YYYY-MM-DD or ISO). */
  since?: string;
  /** At most this many requests to Patchwork in this run (default 100). */
  limit?: number;
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface FilledMail { instance: string; project: string; messageId: string; kind: 'patch' | 'cover'; subject: string }

export interface FillResult {
  dryRun: boolean;
  /** Where the mail went, inside the maildir. */
  folder: string;
  added: FilledMail[];
  /** With dryRun: the patches' message-ids a real run would fetch. */
  planned: string[];
  /** Requests that failed; the rest went on. */
  failed: { instance: string; project: string; url: string; reason: string }[];
  /** Missing patches left for another run (the request cap). */
  left: number;
  requests: number;
}

export const DEFAULT_FILL_LIMIT = 100;

/** One fetch: a patch's mbox, or a whole series' (and its cover letter's). */
interface Unit { rows: PatchRow[]; seriesId: number | null }

/** The mails of a Patchwork mbox, each without its `From ` line. */
export function splitMbox(text: string): string[] {
  return text.split(/^From [^\n]*\n/m).map((m) => m.replace(/\n+$/, '\n')).filter((m) => m.trim());
}

/** A mail's Message-ID (notmuch's form) and Subject, from its header. */
function headerOf(mail: string): { messageId: string | undefined; subject: string } {
  const head = mail.split(/\n\n/, 1)[0]!.replace(/\n[ \t]+/g, ' ');
  const get = (key: string): string | undefined => new RegExp(`^${key}:[ \\t]*(.*)$`, 'im').exec(head)?.[1]?.trim();
  const id = get('Message-Id');
  return { messageId: id ? notmuchMessageId(id) : undefined, subject: get('Subject') ?? '' };
}

/** Group missing patches: a series whose every patch is missing is one unit. */
function unitsOf(session: Session, instance: string, project: string, missing: PatchRow[]): Unit[] {
  const units: Unit[] = [];
  const bySeries = new Map<number, PatchRow[]>();
  for (const r of missing) {
    if (r.series_id === null) units.push({ rows: [r], seriesId: null });
    else bySeries.set(r.series_id, [...(bySeries.get(r.series_id) ?? []), r]);
  }
  for (const [id, rows] of bySeries) {
    const whole = rows.length === session.store.seriesPatches(instance, project, id).length && rows.length === (rows[0]!.series_total ?? rows.length);
    if (whole) units.push({ rows, seriesId: id });
    else units.push(...rows.map((r) => ({ rows: [r], seriesId: null })));
  }
  return units.sort((a, b) => (a.rows[0]!.date ?? '').localeCompare(b.rows[0]!.date ?? ''));
}

/** Requests a unit costs: a patch mbox; or series detail, series mbox and cover mbox. */
const cost = (u: Unit): number => (u.seriesId === null ? 1 : 3);

export async function fill(session: Session, options: FillOptions = {}): Promise<FillResult> {
  const limit = options.limit ?? DEFAULT_FILL_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) throw new PwnmError('USAGE', `--limit is a number of requests, 1 or more, not ${String(options.limit)}`);
  const result: FillResult = { dryRun: Boolean(options.dryRun), folder: session.config.fillFolder, added: [], planned: [], failed: [], left: 0, requests: 0 };
  // Message-ids inserted this run: one mail may come in two mboxes.
  const inserted = new Set<string>();
  for (const sel of session.select(options.projects)) {
    const instance = sel.instance.name;
    const untagged = session.store.untaggedPatches(instance, sel.project).filter((r) => !options.since || (r.date ?? '') >= options.since);
    const present = await session.notmuch.count(untagged.map((r) => idQuery(r.msgid)));
    const missing = untagged.filter((_, i) => present[i] === 0);
    const added: string[] = [];
    for (const unit of unitsOf(session, instance, sel.project, missing)) {
      if (options.signal?.aborted) throw new PwnmError('CANCELLED', 'fill cancelled');
      if (result.requests + cost(unit) > limit) {
        result.left += unit.rows.length;
        continue;
      }
      if (options.dryRun) {
        result.planned.push(...unit.rows.map((r) => r.msgid));
        result.requests += cost(unit);
        continue;
      }
      for (const url of await mboxUrls(session, sel.instance, unit, result)) {
        let text: string;
        try {
          result.requests++;
          text = await (await session.client(sel.instance)).download(url);
        } catch (err) {
          if (err instanceof PwnmError && err.code === 'CANCELLED') throw err;
          result.failed.push({ instance, project: sel.project, url, reason: err instanceof Error ? err.message : String(err) });
          continue;
        }
        const mails = splitMbox(text).flatMap((mail) => {
          const { messageId, subject } = headerOf(mail);
          return messageId ? [{ mail, messageId, subject }] : [];
        });
        // Never a second copy of a message notmuch holds: one count call per mbox.
        const held = await session.notmuch.count(mails.map((m) => idQuery(m.messageId)));
        for (const [i, { mail, messageId, subject }] of mails.entries()) {
          if (inserted.has(messageId) || held[i]! > 0) continue;
          await session.notmuch.insert(mail, session.config.fillFolder);
          inserted.add(messageId);
          const isPatch = unit.rows.some((r) => r.msgid === messageId);
          if (isPatch) added.push(messageId);
          result.added.push({ instance, project: sel.project, messageId, kind: isPatch ? 'patch' : 'cover', subject });
        }
      }
    }
    // The pw- tags, and the state database's record of them, as a sync gives any arrived mail.
    if (added.length) await sync(session, { projects: [sel.project], messageIds: added, ...(options.signal ? { signal: options.signal } : {}) });
  }
  return result;
}

/** The mbox URLs of a unit: the patch's; or the cover letter's and the series'. */
async function mboxUrls(session: Session, inst: Parameters<Session['client']>[0], unit: Unit, result: FillResult): Promise<string[]> {
  const row = unit.rows[0]!;
  if (unit.seriesId === null) {
    if (row.mbox) return [row.mbox];
    result.failed.push({ instance: inst.name, project: row.project, url: '', reason: `patch ${row.patch_id} has no mbox URL` });
    return [];
  }
  try {
    result.requests++;
    const detail = await (await session.client(inst)).get<{ mbox: string; cover_letter: { web_url?: string; mbox?: string } | null }>(`series/${unit.seriesId}`);
    const cover = detail.cover_letter?.mbox ?? (detail.cover_letter?.web_url ? `${detail.cover_letter.web_url}mbox/` : undefined);
    return [...(cover ? [cover] : []), detail.mbox];
  } catch (err) {
    if (err instanceof PwnmError && err.code === 'CANCELLED') throw err;
    result.failed.push({ instance: inst.name, project: row.project, url: `series/${unit.seriesId}`, reason: err instanceof Error ? err.message : String(err) });
    return [];
  }
}

export function formatFill(r: FillResult): string {
  const lines = r.dryRun
    ? r.planned.map((m) => `would fetch ${m}`)
    : r.added.map((m) => `added ${m.kind.padEnd(5)} ${m.project} ${m.messageId} ${m.subject}`);
  for (const f of r.failed) lines.push(`FAILED ${f.project} ${f.url}: ${f.reason}`);
  const n = r.dryRun ? r.planned.length : r.added.length;
  lines.push(`${r.dryRun ? 'would add' : 'added'} ${n} mail${n === 1 ? '' : 's'} into folder ${r.folder} (${r.requests} request${r.requests === 1 ? '' : 's'})${r.failed.length ? `; ${r.failed.length} failed` : ''}${r.left ? `; ${r.left} patch${r.left === 1 ? '' : 'es'} left for the next run (--limit)` : ''}`);
  return lines.join('\n');
}
