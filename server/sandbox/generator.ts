import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { formataddr } from './mbox.js';
import { SandboxData, type SbPatch, type SbProject } from './model.js';

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
  /**
   * Instead of random patches (`patches` is then ignored): build a git
   * repository in `git.repo` and mail patches made with git against it, so
   * that they really apply (see ApplyScenario).
   */
  git?: { repo: string };
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
  /** With `git`: which message is which. */
  scenario?: ApplyScenario;
}

/**
 * The patches made with `git`, by role (message-ids without angle brackets):
 * - `single`: one patch, with a Reviewed-by reply;
 * - `series`: three patches that apply in order (the second builds on the
 *   first), under the cover letter `cover`; replies give patch 1 a Tested-by,
 *   patch 2 a Reviewed-by and an Acked-by, the cover letter an Acked-by;
 * - `conflict`: three patches; the first and third apply, the second was made
 *   against a tree the repository never had, so `git am` stops there.
 */
export interface ApplyScenario {
  repo: string;
  single: string;
  cover: string;
  series: string[];
  conflict: string[];
  /** Trailers the replies give each patch, by message-id. */
  trailers: Record<string, string[]>;
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
  if (options.git) return generateApplicable(data, project, maildir, options, options.git.repo);
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

const BASE_FILES: Record<string, string> = {
  'core/init.c': cFile('init', 40),
  'core/util.c': cFile('util', 40),
  'hw/dev.c': cFile('dev', 60),
};

/** A C file of `lines` numbered statements, so that hunks have distinct context. */
function cFile(name: string, lines: number): string {
  const body = Array.from({ length: lines }, (_, i) => `\tstep_${name}(${i + 1});`);
  return `/* ${name}.c */\n#include "${name}.h"\n\nvoid ${name}_run(void)\n{\n${body.join('\n')}\n}\n`;
}

const replaceLine = (text: string, from: string, to: string): string => {
  if (!text.includes(from)) throw new Error(`generator: no line ${from}`);
  return text.replace(from, to);
};

/** A small git driver for the generator: synchronous, quiet, with a fixed identity and dates. */
function gitIn(dir: string) {
  const env = {
    ...process.env, GIT_AUTHOR_NAME: 'Alice Maintainer', GIT_AUTHOR_EMAIL: 'alice@example.org', GIT_COMMITTER_NAME: 'Alice Maintainer',
    GIT_COMMITTER_EMAIL: 'alice@example.org', GIT_AUTHOR_DATE: '2026-10-01T00:00:00Z', GIT_COMMITTER_DATE: '2026-10-01T00:00:00Z',
    GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1',
  };
  return (...args: string[]): string => execFileSync('git', ['-C', dir, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function writeTree(dir: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}

interface Change { subject: string; message: string; files: Record<string, string> }

/** The git-mode generator: a base repository and patches made by git against it. */
function generateApplicable(data: SandboxData, project: SbProject, maildir: string, options: GenerateOptions, repo: string): Generated {
  const cur = join(maildir, 'cur');
  const writeMail = options.writeMail ?? true;
  if (writeMail) for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
  const newest = (options.newest ?? new Date(Date.UTC(2026, 10, 1))).getTime();
  const mails: GeneratedMail[] = [];
  const patchIds: number[] = [];
  let serial = 0;
  let clock = newest - 24 * 3_600_000;
  const tick = (): Date => new Date((clock += 600_000));

  mkdirSync(repo, { recursive: true });
  const base = gitIn(repo);
  base('init', '-q', '-b', 'main');
  base('config', 'user.name', 'Alice Maintainer');
  base('config', 'user.email', 'alice@example.org');
  writeTree(repo, BASE_FILES);
  base('add', '-A');
  base('commit', '-q', '-m', 'Initial import');

  // Patches are diffs git makes in a scratch clone, one commit after the other.
  const scratch = mkdtempSync(join(tmpdir(), 'pwnm-gen-'));
  const diffs = (changes: Change[], start: string, prepare?: Record<string, string>): { change: Change; diff: string; stat: string }[] => {
    const work = join(scratch, String(++serial));
    execFileSync('git', ['clone', '-q', repo, work], { stdio: 'ignore' });
    const git = gitIn(work);
    git('checkout', '-q', start);
    if (prepare) {
      writeTree(work, prepare);
      git('commit', '-q', '-am', 'a tree the repository never sees');
    }
    return changes.map((change) => {
      writeTree(work, change.files);
      git('add', '-A');
      const diff = git('diff', '--cached', '--full-index', '--no-color');
      const stat = git('diff', '--cached', '--stat=72', '--no-color');
      git('commit', '-q', '-m', change.subject);
      return { change, diff, stat };
    });
  };

  const write = (msgid: string, headers: [string, string][], body: string): void => {
    const text = `${headers.map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${body}`;
    const file = join(cur, `${project.link_name}.git.${++serial}:2,S`);
    if (writeMail) writeFileSync(file, text);
    if (writeMail) mails.push({ msgid, file, text });
  };
  const host = project.list_email.split('@')[1]!;
  const headersOf = (from: readonly [string, string], subject: string, msgid: string, date: Date, reply?: string): [string, string][] => {
    // As git send-email writes it: a non-ASCII name RFC 2047-encoded (a raw
    // 8-bit header reaches Patchwork's mbox as unknown-8bit, which git am refuses).
    const h: [string, string][] = [['From', formataddr(from[0], from[1])], ['To', project.list_email], ['Subject', subject], ['Date', rfc2822(date)], ['Message-ID', `<${msgid}>`]];
    if (reply) h.push(['In-Reply-To', `<${reply}>`], ['References', `<${reply}>`]);
    h.push(['List-Id', `<${project.list_id}>`], ['MIME-Version', '1.0'], ['Content-Type', 'text/plain; charset=UTF-8'], ['Content-Transfer-Encoding', '8bit']);
    return h;
  };
  const stored = (h: [string, string][]): Record<string, string> => Object.fromEntries(h);
  const trailers: Record<string, string[]> = {};
  const reply = (to: string, toSubject: string, who: readonly [string, string], trailer: string, target: { patch?: SbPatch; cover?: number }): void => {
    const msgid = `${to.split('@')[0]}.re${++serial}@${who[1].split('@')[1]}`;
    const date = tick();
    const content = `On ${rfc2822(date)}, someone wrote:\n> looks right\n\n${trailer}: ${who[0]} <${who[1]}>\n`;
    write(msgid, headersOf([who[0], who[1]], `Re: ${toSubject}`, msgid, date, to), content);
    data.addComment({ patch: target.patch?.id ?? null, cover: target.cover ?? null, msgid: `<${msgid}>`, date: date.toISOString().slice(0, 19), submitter: data.addPerson(who[0], who[1]).id, content });
    if (target.patch) (trailers[to] ??= []).push(`${trailer}: ${who[0]} <${who[1]}>`);
  };

  const mailSeries = (author: readonly [string, string], tag: string, made: { change: Change; diff: string; stat: string }[], withCover: boolean): { ids: string[]; cover?: string; patches: SbPatch[]; subjects: string[]; coverId?: number } => {
    const person = data.addPerson(author[0], author[1]);
    const total = made.length;
    const start = tick();
    const series = data.addSeries({ project: project.id, name: withCover ? `${tag}: series` : made[0]!.change.subject, version: 1, date: start.toISOString().slice(0, 19), total, submitter: person.id, cover: null });
    const user = author[1].split('@')[0];
    let cover: string | undefined;
    let coverId: number | undefined;
    if (withCover) {
      cover = `${tag}-0-${user}@${host}`;
      const h = headersOf(author, `[PATCH 0/${total}] ${tag}: series`, cover, start);
      const content = `This series reworks ${tag}.\n\n${made.map((m) => m.change.subject).join('\n')}\n`;
      write(cover, h, `${content}\n-- \n2.39.5\n`);
      coverId = data.addCover({ project: project.id, msgid: `<${cover}>`, date: start.toISOString().slice(0, 19), name: `[0/${total}] ${tag}: series`, submitter: person.id, series: series.id, content, headers: stored(h) }).id;
    }
    const ids: string[] = [];
    const patches: SbPatch[] = [];
    const subjects: string[] = [];
    made.forEach(({ change, diff, stat }, i) => {
      const msgid = `${tag}-${i + 1}-${user}@${host}`;
      const prefix = total > 1 ? `[PATCH ${i + 1}/${total}]` : '[PATCH]';
      const date = tick();
      const h = headersOf(author, `${prefix} ${change.subject}`, msgid, date, cover);
      const content = `${change.message}\n\nSigned-off-by: ${author[0]} <${author[1]}>\n---\n${stat}\n`;
      write(msgid, h, `${content}${diff}-- \n2.39.5\n`);
      const patch = data.addPatch({
        project: project.id, msgid: `<${msgid}>`, name: total > 1 ? `[${i + 1}/${total}] ${change.subject}` : change.subject, submitter: person.id,
        date: date.toISOString().slice(0, 19), state: 'new', series: series.id, number: i + 1, diff, content, headers: stored(h),
      }, true);
      ids.push(msgid);
      patches.push(patch);
      subjects.push(`${prefix} ${change.subject}`);
      patchIds.push(patch.id);
    });
    return { ids, ...(cover ? { cover } : {}), patches, subjects, ...(coverId ? { coverId } : {}) };
  };

  const [alice, bob, chloe, , erin, , grace] = PEOPLE;
  try {
    // One patch on its own.
    const init = BASE_FILES['core/init.c']!;
    const single = mailSeries(bob, 'core-init', diffs([{ subject: 'core: start at step zero', message: 'Count the init steps from zero, as the documentation says.', files: { 'core/init.c': replaceLine(init, '\tstep_init(3);', '\tstep_init(0);') } }], 'main'), false);
    reply(single.ids[0]!, single.subjects[0]!, erin, 'Reviewed-by', { patch: single.patches[0]! });

    // A series whose second patch needs the first.
    const util = BASE_FILES['core/util.c']!;
    const util1 = replaceLine(util, '\tstep_util(20);', '\tstep_util(20);\n\tutil_check();');
    const util2 = replaceLine(util1, '\tutil_check();', '\tutil_check();\n\tutil_report();');
    const dev = BASE_FILES['hw/dev.c']!;
    const series = mailSeries(chloe, 'util-checks', diffs([
      { subject: 'util: check after step 20', message: 'The state is only consistent after step 20: check it there.', files: { 'core/util.c': util1 } },
      { subject: 'util: report the check', message: 'Say what the check found.', files: { 'core/util.c': util2 } },
      { subject: 'hw/dev: probe before step 5', message: 'Probe the device before it is used.', files: { 'hw/dev.c': replaceLine(dev, '\tstep_dev(5);', '\tdev_probe();\n\tstep_dev(5);') } },
    ], 'main'), true);
    reply(series.ids[0]!, series.subjects[0]!, grace, 'Tested-by', { patch: series.patches[0]! });
    reply(series.ids[1]!, series.subjects[1]!, erin, 'Reviewed-by', { patch: series.patches[1]! });
    reply(series.ids[1]!, series.subjects[1]!, alice, 'Acked-by', { patch: series.patches[1]! });
    reply(series.cover!, `[PATCH 0/3] util-checks: series`, bob, 'Acked-by', { cover: series.coverId! });

    // A series whose second patch was made against another tree.
    const conflict = mailSeries(bob, 'dev-rework', [
      ...diffs([{ subject: 'hw/dev: drop step 50', message: 'Step 50 does nothing.', files: { 'hw/dev.c': replaceLine(dev, '\tstep_dev(50);\n', '') } }], 'main'),
      ...diffs([{ subject: 'core: rename step 30', message: 'Follow the new name.', files: { 'core/init.c': replaceLine(replaceLine(init, '\tstep_init(30);', '\tstep_init_late(30);'), '\tstep_init_late(30);', '\tstep_init_final(30);') } }], 'main', { 'core/init.c': replaceLine(init, '\tstep_init(30);', '\tstep_init_late(30);') }),
      ...diffs([{ subject: 'hw/dev: drop step 40', message: 'Step 40 does nothing either.', files: { 'hw/dev.c': replaceLine(replaceLine(dev, '\tstep_dev(50);\n', ''), '\tstep_dev(40);\n', '') } }], 'main', { 'hw/dev.c': replaceLine(dev, '\tstep_dev(50);\n', '') }),
    ], false);
    return {
      project, mails, patchIds,
      scenario: { repo, single: single.ids[0]!, cover: series.cover!, series: series.ids, conflict: conflict.ids, trailers },
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Mail only, for a server that parses it itself (the real Patchwork of
 * test/real): the same mail `generate` writes, with a scratch model.
 */
export function generateMail(list: { link_name: string; list_email: string; list_id: string }, maildir: string, options: GenerateOptions): GeneratedMail[] {
  const scratch = new SandboxData();
  return generate(scratch, scratch.addProject(list), maildir, options).mails;
}
