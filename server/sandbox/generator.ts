import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxData, type SbProject } from './model.js';

// Realistic patch mail for a list: series with and without cover letters,
// review replies, list headers, real-looking diffs. The same patches are
// loaded into the sandbox, so the maildir and "Patchwork" agree the way a
// real list archive and its Patchwork do.

export interface GenerateOptions {
  /** Number of patches (cover letters and replies come on top). */
  patches: number;
  seed?: number;
  /** Date of the newest mail; older ones go back an hour apiece. */
  newest?: Date;
  /** Give patches a random mix of states on the server (default), or all `new`. */
  stateMix?: boolean;
  /** Write the mail files (default); false only rebuilds the sandbox data for a cached maildir. */
  writeMail?: boolean;
  /** Added to every series' version: with the same seed and a later `newest`, a resend of the same series. */
  versionBump?: number;
  /** Message-IDs (without <>) for the first patches, in order: hostile ones, say. */
  msgids?: readonly string[];
}

export interface GeneratedMail { msgid: string; file: string; text: string }

export interface Generated {
  project: SbProject;
  mails: GeneratedMail[];
  patchIds: number[];
}

const PEOPLE = [
  ['Alice Maintainer', 'alice@example.org'], ['Bob Hacker', 'bob@example.com'], ['Chloé Dévelopeur', 'chloe@example.fr'],
  ['Dmitri Kernelov', 'dmitri@example.net'], ['Erin Reviewer', 'erin@example.org'], ['Farid Coder', 'farid@example.com'],
  ['Grace Patchsender', 'grace@example.org'], ['Hiro Tanaka', 'hiro@example.jp'],
] as const;
const AREAS = ['core', 'hw/npu', 'libflash', 'opal', 'doc', 'test', 'hdata', 'xive', 'phb4', 'build'];
const VERBS = ['fix', 'add', 'remove', 'clean up', 'refactor', 'document', 'rework', 'simplify'];
const THINGS = ['error path', 'locking', 'NULL dereference', 'timeout handling', 'register layout', 'init ordering', 'debug output', 'leak on failure'];
const STATES = ['new', 'new', 'new', 'under-review', 'accepted', 'changes-requested', 'rejected', 'superseded', 'rfc', 'deferred'];

/** A small deterministic PRNG (mulberry32), so runs and caches agree. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function rfc2822(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function diffFor(rand: () => number, file: string): string {
  const line = 10 + Math.floor(rand() * 400);
  const ctx = ['\tint rc;', '\tstruct dev *d = priv;', '', '\tlock(&d->lock);', '\trc = probe(d);', '\tunlock(&d->lock);', '\treturn rc;'];
  const a = ctx.slice(0, 3).map((l) => ` ${l}`);
  const b = ctx.slice(4, 7).map((l) => ` ${l}`);
  return [
    `diff --git a/${file} b/${file}`,
    `index ${Math.floor(rand() * 0xfffffff).toString(16).padStart(7, '0')}..${Math.floor(rand() * 0xfffffff).toString(16).padStart(7, '0')} 100644`,
    `--- a/${file}`, `+++ b/${file}`,
    `@@ -${line},6 +${line},8 @@ static int do_probe(struct dev *d)`,
    ...a, `-\trc = probe(d);`, `+\trc = probe(d);`, `+\tif (rc)`, `+\t\tgoto out;`, ...b.slice(0, 2),
    '',
  ].join('\n');
}

function patchworkName(prefix: string, subject: string): string {
  const kept = prefix.replace(/^\[|\]$/g, '').split(/\s+/).filter((w) => w && w !== 'PATCH');
  return kept.length ? `[${kept.join(',')}] ${subject}` : subject;
}

/**
 * Generate `patches` patch mails for `project` into `maildir` (cur/ files)
 * and add the same patches, series and people to `data`.
 */
export function generate(data: SandboxData, project: SbProject, maildir: string, options: GenerateOptions): Generated {
  const rand = prng(options.seed ?? 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const cur = join(maildir, 'cur');
  const writeMail = options.writeMail ?? true;
  if (writeMail) for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
  const newest = (options.newest ?? new Date(Date.UTC(2026, 10, 1))).getTime();
  const mails: GeneratedMail[] = [];
  const patchIds: number[] = [];
  let made = 0;
  let serial = 0;
  const write = (msgid: string, headers: [string, string][], body: string): void => {
    const text = `${headers.map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${body}`;
    const file = join(cur, `${project.link_name}.${++serial}:2,S`);
    if (writeMail) writeFileSync(file, text);
    if (writeMail) mails.push({ msgid, file, text });
  };
  while (made < options.patches) {
    const total = Math.min(options.patches - made, rand() < 0.6 ? 1 : 2 + Math.floor(rand() * 5));
    const [name, email] = pick(PEOPLE);
    const person = data.addPerson(name, email);
    const version = (rand() < 0.7 ? 1 : 2 + Math.floor(rand() * 2)) + (options.versionBump ?? 0);
    const area = pick(AREAS);
    const topic = `${pick(VERBS)} ${pick(THINGS)}`;
    const when = (i: number): Date => new Date(newest - (options.patches - made - i) * 3_600_000);
    const tag = `${version > 1 ? `v${version} ` : ''}`;
    const stamp = when(0).toISOString().replace(/\D/g, '').slice(0, 14);
    const idBase = `${stamp}.${serial.toString(16)}${Math.floor(rand() * 0xffff).toString(16)}`;
    const host = email.split('@')[1]!;
    const common = (subject: string, msgid: string, date: Date, reply?: string): [string, string][] => {
      const h: [string, string][] = [
        ['From', `${name} <${email}>`], ['To', project.list_email], ['Cc', 'Erin Reviewer <erin@example.org>'],
        ['Subject', subject], ['Date', rfc2822(date)], ['Message-ID', `<${msgid}>`],
      ];
      if (reply) h.push(['In-Reply-To', `<${reply}>`], ['References', `<${reply}>`]);
      h.push(['List-Id', `<${project.list_id}>`], ['MIME-Version', '1.0'], ['Content-Type', 'text/plain; charset=UTF-8'], ['Content-Transfer-Encoding', '8bit']);
      return h;
    };
    const hasCover = total > 1 && rand() < 0.5;
    const coverId = hasCover ? `${idBase}-0-${email.split('@')[0]}@${host}` : undefined;
    const seriesName = hasCover ? `${area}: ${topic}` : `${area}: ${topic}`;
    const series = data.addSeries({ project: project.id, name: seriesName, version, date: when(0).toISOString().slice(0, 19), total, submitter: person.id, cover: null });
    if (coverId) write(coverId, common(`[PATCH ${tag}0/${total}] ${area}: ${topic}`, coverId, when(0)), `This series does ${topic} in ${area}.\n\n${name} (${total}):\n  ...\n\n-- \n2.39.5\n`);
    for (let i = 1; i <= total; i++) {
      const msgid = options.msgids?.[made] ?? `${idBase}-${i}-${email.split('@')[0]}@${host}`;
      const date = when(i - 1);
      const prefix = total > 1 ? `[PATCH ${tag}${i}/${total}]` : `[PATCH ${tag}]`.replace(' ]', ']');
      const subject = `${area}: ${topic}${total > 1 ? ` (part ${i})` : ''}`;
      const file = `${area.replace('/', '-')}/${pick(['init', 'core', 'util', 'dev'])}.c`;
      const diff = diffFor(rand, file);
      const body = `Make ${area} ${topic.split(' ').slice(1).join(' ')} behave.\n\nSigned-off-by: ${name} <${email}>\n---\n ${file} | 3 ++-\n 1 file changed, 2 insertions(+), 1 deletion(-)\n\n${diff}-- \n2.39.5\n`;
      write(msgid, common(`${prefix} ${subject}`, msgid, date, coverId), body);
      const state = options.stateMix === false ? 'new' : pick(STATES);
      const patch = data.addPatch({
        // Patchwork keeps the subject's prefixes but PATCH: [v2,3/5] core: ...
        project: project.id, msgid: `<${msgid}>`, name: patchworkName(prefix, subject), submitter: person.id,
        date: date.toISOString().slice(0, 19), state, series: series.id, diff, content: body.split('\n---\n')[0]!,
        headers: { 'Message-Id': `<${msgid}>`, To: project.list_email, 'List-Id': `<${project.list_id}>`, From: `${name} <${email}>` },
      }, true);
      patchIds.push(patch.id);
      made++;
      if (rand() < 0.3) {
        const [rn, re] = pick(PEOPLE);
        const replyId = `${msgid.split('@')[0]}.reply@${re.split('@')[1]}`;
        write(replyId, [
          ['From', `${rn} <${re}>`], ['To', project.list_email], ['Subject', `Re: ${prefix} ${subject}`], ['Date', rfc2822(new Date(date.getTime() + 600_000))],
          ['Message-ID', `<${replyId}>`], ['In-Reply-To', `<${msgid}>`], ['References', `<${msgid}>`], ['List-Id', `<${project.list_id}>`],
        ], `On ${rfc2822(date)}, ${name} wrote:\n> ${topic}\n\nReviewed-by: ${rn} <${re}>\n`);
      }
    }
  }
  return { project, mails, patchIds };
}

/**
 * Mail only, for a server that parses it itself (the real Patchwork of
 * test/real): the same mail `generate` writes, with a scratch model.
 */
export function generateMail(list: { link_name: string; list_email: string; list_id: string }, maildir: string, options: GenerateOptions): GeneratedMail[] {
  const scratch = new SandboxData();
  return generate(scratch, scratch.addProject(list), maildir, options).mails;
}
