import type { RuleConfig } from '../config.js';
import { PwnmError } from '../errors.js';
import { setStateOfRows, type SetStateResult } from '../ops/set-state.js';
import type { Revision } from '../notmuch/notmuch.js';
import type { Session } from '../session.js';
import type { PatchRow } from '../store/store.js';
import { hasFired, recordFired, rulesMark, setRulesMark } from '../store/rules.js';
import { addressOf } from './reply.js';

// Rules: a reply moves the patch (or series) it answers to a state. Built
// in: `pw-bot: X` in the user's own replies, as netdev's mailbot reads it
// (DESIGN §8); more as `[rule NAME]` sections. A rule fires once per reply
// (remembered), only on mail that came after rules were first run (notmuch's
// lastmod, and a date bound so that retagging an old reply does not wake
// it), and its change goes through set-state's push path (queued when it
// cannot go now). A later manual change wins: the reply never fires again.

/** netdev's mailbot aliases (nipa `pw_act_map`); every full slug works too. */
export const PW_BOT_ALIASES: Readonly<Record<string, string>> = {
  cr: 'changes-requested', au: 'awaiting-upstream', accept: 'accepted', reject: 'rejected', defer: 'deferred',
  nap: 'not-applicable', ur: 'under-review', nac: 'needs-ack', 'need-ack': 'needs-ack',
};

export const PW_BOT_RULE = 'pw-bot';

export interface RulesOptions {
  dryRun?: boolean;
  /** Also consider replies dated on or after this day (YYYY-MM-DD), whenever they arrived. */
  since?: string;
  /** notmuch's revision, when the caller (a sync) has just read it. */
  revision?: Revision;
}

export interface Firing {
  rule: string;
  /** The reply that triggered it. */
  msgid: string;
  from: string;
  state: string;
  /** The message it answers: a patch, or a cover letter (then its series). */
  target: string;
  patches: { project: string; msgid: string; name: string }[];
  /** Each patch's push outcome (not with --dry-run). */
  results?: SetStateResult[];
}

export interface RulesResult {
  fired: Firing[];
  /** Replies a rule matched but could not act on, and why. */
  skipped: { rule: string; msgid: string; reason: string }[];
  /** Set when this run was the first: rules start from here. */
  started?: string;
}

/** The state a `pw-bot:` line names, if any. */
export function pwBotState(body: string, knownStates: readonly string[]): string | undefined {
  const m = /^[ \t>]*pw-bot:[ \t]*(\S+)/im.exec(body);
  if (!m) return undefined;
  const word = m[1]!.toLowerCase();
  const state = PW_BOT_ALIASES[word] ?? word;
  return knownStates.includes(state) || Object.values(PW_BOT_ALIASES).includes(state) ? state : undefined;
}

type Rule = RuleConfig & { builtin?: boolean };

interface ShownMessage { id: string; match: boolean; headers: Record<string, string>; body?: unknown[] }
type ThreadNode = [ShownMessage | null, ThreadNode[]];

/** A matched reply with its ancestors (nearest first) and each ancestor's direct replies. */
interface Candidate { message: ShownMessage; ancestors: { id: string; children: string[] }[] }

export async function runRules(session: Session, options: RulesOptions = {}): Promise<RulesResult> {
  if (options.since && !/^\d{4}-\d{2}-\d{2}$/.test(options.since)) throw new PwnmError('USAGE', `--since "${options.since}" is not a date; write it as YYYY-MM-DD`);
  const { config, store, notmuch } = session;
  const result: RulesResult = { fired: [], skipped: [] };
  const builtin: Rule = { name: PW_BOT_RULE, query: 'body:"pw-bot"', state: '', scope: 'series', from: 'me', where: 'built in', builtin: true };
  const rules: Rule[] = [...(config.pwBot ? [builtin] : []), ...config.rules];
  if (rules.length === 0) return result;
  const revision = options.revision ?? (await notmuch.revision());
  let mark = rulesMark(store);
  // Nothing new in notmuch: no call at all (a no-change sync stays one notmuch call).
  if (mark && mark.uuid === revision.uuid && revision.lastmod <= mark.lastmod && !options.since) return result;
  if (!mark || mark.uuid !== revision.uuid) {
    // First run (or another database): start here, nothing old fires unless --since asks.
    mark = { uuid: revision.uuid, lastmod: revision.lastmod, started: new Date().toISOString() };
    result.started = mark.started;
    if (!options.dryRun) setRulesMark(store, mark);
    if (!options.since) return result;
  }
  // New since the last run (and not an old reply retagged), or anything since --since.
  const startedDay = Math.floor(Date.parse(mark.started) / 1000) - 86_400;
  const window = options.since ? `date:${options.since}..` : `lastmod:${mark.lastmod + 1}..${revision.lastmod} and date:@${startedDay}..`;
  let me: string[] | undefined; // read only when some reply matched
  for (const rule of rules) {
    for (const c of await candidates(session, `(${window}) and (${rule.query})`)) {
      const msgid = c.message.id;
      if (hasFired(store, msgid, rule.name)) continue;
      if (rule.from === 'me') me ??= await notmuch.userAddresses();
      const from = addressOf(c.message.headers.From ?? '');
      if (rule.from !== 'anyone' && !(rule.from === 'me' ? me! : rule.from).includes(from)) continue;
      const found = answered(session, c);
      if (!found) continue; // not a reply to a patch we track
      const skip = (reason: string) => result.skipped.push({ rule: rule.name, msgid, reason });
      const state = rule.builtin ? pwBotState(bodyText(c.message.body), store.knownStates(found.rows[0]!.instance, found.rows[0]!.project)) : rule.state;
      if (!state) { skip('its pw-bot: line names no state this project knows'); continue; }
      const rows = rule.scope === 'series' || found.cover ? seriesOf(session, found.rows) : found.rows;
      const firing: Firing = { rule: rule.name, msgid, from: c.message.headers.From ?? '', state, target: found.target, patches: rows.map((r) => ({ project: r.project, msgid: r.msgid, name: r.name ?? '' })) };
      if (!options.dryRun) {
        // Remembered first: a push that fails stays queued, and the reply never fires twice.
        recordFired(store, msgid, rule.name, state, rows.length);
        firing.results = await setStateOfRows(session, rows, state);
      }
      result.fired.push(firing);
    }
  }
  if (!options.dryRun) setRulesMark(store, { ...mark, lastmod: Math.max(mark.lastmod, revision.lastmod) });
  return result;
}

/** The matching messages, each with its place in its thread. */
async function candidates(session: Session, query: string): Promise<Candidate[]> {
  const out: Candidate[] = [];
  const walk = (nodes: ThreadNode[], ancestors: Candidate['ancestors']): void => {
    for (const [message, replies] of nodes) {
      if (!message) { walk(replies, ancestors); continue; }
      if (message.match) out.push({ message, ancestors });
      const children = replies.map(([m]) => m?.id).filter((id): id is string => Boolean(id));
      walk(replies, [{ id: message.id, children }, ...ancestors]);
    }
  };
  for (const thread of await session.notmuch.showThreads(query)) walk(thread as ThreadNode[], []);
  return out;
}

/** The nearest patch the reply answers; else a cover letter it answers (a message whose replies are patches). */
function answered(session: Session, c: Candidate): { target: string; rows: PatchRow[]; cover: boolean } | undefined {
  const tracked = (id: string): PatchRow[] => session.store.patchesByMsgid(id).filter((r) => session.select().some((s) => s.instance.name === r.instance && s.project === r.project));
  for (const a of c.ancestors) {
    const rows = tracked(a.id);
    if (rows.length) return { target: a.id, rows, cover: false };
    const patches = a.children.flatMap(tracked).filter((r) => r.series_id !== null);
    if (patches.length) return { target: a.id, rows: patches, cover: true };
  }
  return undefined;
}

/** Every patch of the rows' series (a patch without a series stands alone). */
function seriesOf(session: Session, rows: readonly PatchRow[]): PatchRow[] {
  const out = new Map<string, PatchRow>();
  for (const r of rows) {
    const all = r.series_id === null ? [r] : session.store.seriesPatches(r.instance, r.project, r.series_id);
    for (const p of all) out.set(`${p.instance} ${p.project} ${p.msgid}`, p);
  }
  return [...out.values()];
}

/** The text/plain parts of a shown message, joined. */
export function bodyText(parts: unknown[] | undefined): string {
  let text = '';
  const visit = (part: unknown): void => {
    const p = part as { 'content-type'?: string; content?: unknown };
    if (Array.isArray(p.content)) p.content.forEach(visit);
    else if (typeof p.content === 'string' && (p['content-type'] ?? '').toLowerCase() === 'text/plain') text += `${p.content}\n`;
  };
  (parts ?? []).forEach(visit);
  return text;
}

export function formatRules(r: RulesResult): string {
  const lines: string[] = [];
  if (r.started) lines.push(`rules start here (${r.started}): replies already in notmuch are left alone (use --since YYYY-MM-DD to include some)`);
  for (const f of r.fired) {
    const done = f.results ? f.results.map((x) => x.outcome).filter((o, i, all) => all.indexOf(o) === i).join(', ') : 'would set';
    lines.push(`${f.rule}: id:${f.msgid} (${f.from}) -> ${f.state} on ${f.patches.length} patch${f.patches.length === 1 ? '' : 'es'} (${done})`);
    for (const x of f.results ?? []) if (x.reason) lines.push(`  ${x.msgid}: ${x.outcome}: ${x.reason}`);
  }
  for (const s of r.skipped) lines.push(`skipped ${s.rule}: id:${s.msgid}: ${s.reason}`);
  lines.push(`${r.fired.length} rule${r.fired.length === 1 ? '' : 's'} fired${r.fired.length && !r.fired[0]!.results ? ' (dry run)' : ''}`);
  return lines.join('\n');
}
