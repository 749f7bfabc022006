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
  /** Date of the newest mail; older ones go back an hour apiece (less past 131,400 patches). */
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
  git?: { repo: string; dependent?: boolean };
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
  /**
   * With `git.dependent`: two patches made on top of `series`, under a cover
   * letter saying `Depends-on: <cover>` (a message-id with a slash, as RFC
   * 5322 allows), so they apply only after `series`.
   */
  dependent?: { cover: string; patches: string[] };
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

type Header = [string, string];
type Person = readonly [string, string];

const [ALICE, BOB, CHLOE, , ERIN, , GRACE] = PEOPLE;

/** The generated mail spans at most this much time. */
const MAX_SPAN_MS = 15 * 365 * 86_400_000;
const newestOf = (options: GenerateOptions): number => (options.newest ?? new Date(Date.UTC(2026, 10, 1))).getTime();

/** A running count. Mail file names and some message-ids are made from it, so it must run the same every time. */
class Serial {
  value = 0;
  next(): number {
    return ++this.value;
  }
}

/**
 * Writes mails into the maildir's cur/ as `STEM.N:2,S` (N from `serial`) and
 * keeps them for the caller. Without `writeMail` it still counts, so that a
 * cached maildir and the rebuilt sandbox data agree on ids made from the count.
 */
class MailSink {
  readonly mails: GeneratedMail[] = [];

  constructor(private readonly cur: string, private readonly stem: string, private readonly writeMail: boolean, private readonly serial: Serial) {}

  write(msgid: string, headers: Header[], body: string): void {
    const text = `${headers.map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${body}`;
    const file = join(this.cur, `${this.stem}.${this.serial.next()}:2,S`);
    if (!this.writeMail) return;
    writeFileSync(file, text);
    this.mails.push({ msgid, file, text });
  }
}

function openMaildir(maildir: string, stem: string, options: GenerateOptions, serial: Serial): MailSink {
  const writeMail = options.writeMail ?? true;
  if (writeMail) for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
  return new MailSink(join(maildir, 'cur'), stem, writeMail, serial);
}

/**
 * Generate `patches` patch mails for `project` into `maildir` (cur/ files)
 * and add the same patches, series and people to `data`.
 */
export function generate(data: SandboxData, project: SbProject, maildir: string, options: GenerateOptions): Generated {
  if (options.git) return generateApplicable(data, project, maildir, options, options.git.repo);
  const serial = new Serial();
  return new RandomList(data, project, options, openMaildir(maildir, project.link_name, options, serial), serial).run();
}

/** A series the random generator is mailing: who sends it, what it is about, and the ids its mails share. */
interface RandomSeries {
  name: string;
  email: string;
  personId: number;
  seriesId: number;
  total: number;
  area: string;
  topic: string;
  /** `v2 ` and so on for a resend, else empty: goes into the `[PATCH ...]` prefix. */
  version: string;
  idBase: string;
  host: string;
  coverMsgid: string | undefined;
}

/**
 * The random generator: series after series until `options.patches` patches
 * are made. Every draw comes from one seeded PRNG in a fixed order, so the
 * same options give the same mail (test caches depend on it).
 */
class RandomList {
  private readonly rand: () => number;
  private readonly newest: number;
  private readonly patchIds: number[] = [];
  private made = 0;

  constructor(
    private readonly data: SandboxData,
    private readonly project: SbProject,
    private readonly options: GenerateOptions,
    private readonly sink: MailSink,
    private readonly serial: Serial,
  ) {
    this.rand = prng(options.seed ?? 1);
    this.newest = newestOf(options);
  }

  run(): Generated {
    while (this.made < this.options.patches) this.mailSeries(this.startSeries());
    return { project: this.project, mails: this.sink.mails, patchIds: this.patchIds };
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]!;
  }

  /**
   * An hour a step before `newest`, counted back from the patches still to
   * make; closer for 15 years of hours or more (131,400 patches), so that
   * a million patches are not dated before 1970, which notmuch cannot hold.
   */
  private dateOf(step: number): Date {
    const stepMs = Math.min(3_600_000, Math.floor(MAX_SPAN_MS / (this.options.patches + 1)));
    return new Date(this.newest - (this.options.patches - this.made - step) * stepMs);
  }

  /** Draws the next series (60% single patches, the rest 2 to 6; 30% resends) and adds it and its sender to the data. */
  private startSeries(): RandomSeries {
    const total = Math.min(this.options.patches - this.made, this.rand() < 0.6 ? 1 : 2 + Math.floor(this.rand() * 5));
    const [name, email] = this.pick(PEOPLE);
    const person = this.data.addPerson(name, email);
    const version = (this.rand() < 0.7 ? 1 : 2 + Math.floor(this.rand() * 2)) + (this.options.versionBump ?? 0);
    const area = this.pick(AREAS);
    const topic = `${this.pick(VERBS)} ${this.pick(THINGS)}`;
    const stamp = this.dateOf(0).toISOString().replace(/\D/g, '').slice(0, 14);
    const idBase = `${stamp}.${this.serial.value.toString(16)}${Math.floor(this.rand() * 0xffff).toString(16)}`;
    const host = email.split('@')[1]!;
    const hasCover = total > 1 && this.rand() < 0.5;
    const coverMsgid = hasCover ? `${idBase}-0-${email.split('@')[0]}@${host}` : undefined;
    const series = this.data.addSeries({ project: this.project.id, name: `${area}: ${topic}`, version, date: this.dateOf(0).toISOString().slice(0, 19), total, submitter: person.id, cover: null });
    return { name, email, personId: person.id, seriesId: series.id, total, area, topic, version: version > 1 ? `v${version} ` : '', idBase, host, coverMsgid };
  }

  /** The cover letter, if the series has one, then each patch. */
  private mailSeries(s: RandomSeries): void {
    if (s.coverMsgid) {
      const subject = `[PATCH ${s.version}0/${s.total}] ${s.area}: ${s.topic}`;
      const content = `This series does ${s.topic} in ${s.area}.\n\n${s.name} (${s.total}):\n  ...\n`;
      this.sink.write(s.coverMsgid, this.headers(s, subject, s.coverMsgid, this.dateOf(0)), `${content}\n-- \n2.39.5\n`);
      // Patchwork files the cover letter under its series, as a real one does.
      this.data.addCover({ project: this.project.id, msgid: `<${s.coverMsgid}>`, date: this.dateOf(0).toISOString().slice(0, 19), name: `[${s.version}0/${s.total}] ${s.area}: ${s.topic}`, submitter: s.personId, series: s.seriesId, content, headers: {} });
    }
    for (let i = 1; i <= s.total; i++) this.mailPatch(s, i);
  }

  /** Patch `i` of the series: its mail, its row in the data (with a random state unless `stateMix` is false), sometimes a review. */
  private mailPatch(s: RandomSeries, i: number): void {
    const msgid = this.options.msgids?.[this.made] ?? `${s.idBase}-${i}-${s.email.split('@')[0]}@${s.host}`;
    // `made` has already counted the earlier patches of this series: the dates
    // the generator has always made, which caches and tests are built on.
    const date = this.dateOf(i - 1);
    const prefix = s.total > 1 ? `[PATCH ${s.version}${i}/${s.total}]` : `[PATCH ${s.version}]`.replace(' ]', ']');
    const subject = `${s.area}: ${s.topic}${s.total > 1 ? ` (part ${i})` : ''}`;
    const file = `${s.area.replace('/', '-')}/${this.pick(['init', 'core', 'util', 'dev'])}.c`;
    const diff = diffFor(this.rand, file);
    const body = `Make ${s.area} ${s.topic.split(' ').slice(1).join(' ')} behave.\n\nSigned-off-by: ${s.name} <${s.email}>\n---\n ${file} | 3 ++-\n 1 file changed, 2 insertions(+), 1 deletion(-)\n\n${diff}-- \n2.39.5\n`;
    this.sink.write(msgid, this.headers(s, `${prefix} ${subject}`, msgid, date, s.coverMsgid), body);
    const state = this.options.stateMix === false ? 'new' : this.pick(STATES);
    const patch = this.data.addPatch({
      // Patchwork keeps the subject's prefixes but PATCH: [v2,3/5] core: ...
      project: this.project.id, msgid: `<${msgid}>`, name: patchworkName(prefix, subject), submitter: s.personId,
      date: date.toISOString().slice(0, 19), state, series: s.seriesId, diff, content: body.split('\n---\n')[0]!,
      headers: { 'Message-Id': `<${msgid}>`, To: this.project.list_email, 'List-Id': `<${this.project.list_id}>`, From: `${s.name} <${s.email}>` },
    }, true);
    this.patchIds.push(patch.id);
    this.made++;
    if (this.rand() < 0.3) this.mailReview(s, msgid, `${prefix} ${subject}`, date);
  }

  /** A Reviewed-by from a random person ten minutes after the patch: mail only, the data has no comments here. */
  private mailReview(s: RandomSeries, msgid: string, subject: string, date: Date): void {
    const [rn, re] = this.pick(PEOPLE);
    const replyId = `${msgid.split('@')[0]}.reply@${re.split('@')[1]}`;
    this.sink.write(replyId, [
      ['From', `${rn} <${re}>`], ['To', this.project.list_email], ['Subject', `Re: ${subject}`], ['Date', rfc2822(new Date(date.getTime() + 600_000))],
      ['Message-ID', `<${replyId}>`], ['In-Reply-To', `<${msgid}>`], ['References', `<${msgid}>`], ['List-Id', `<${this.project.list_id}>`],
    ], `On ${rfc2822(date)}, ${s.name} wrote:\n> ${s.topic}\n\nReviewed-by: ${rn} <${re}>\n`);
  }

  /** The headers of the sender's mails as the list delivers them. */
  private headers(s: RandomSeries, subject: string, msgid: string, date: Date, reply?: string): Header[] {
    const h: Header[] = [
      ['From', `${s.name} <${s.email}>`], ['To', this.project.list_email], ['Cc', 'Erin Reviewer <erin@example.org>'],
      ['Subject', subject], ['Date', rfc2822(date)], ['Message-ID', `<${msgid}>`],
    ];
    if (reply) h.push(['In-Reply-To', `<${reply}>`], ['References', `<${reply}>`]);
    h.push(['List-Id', `<${this.project.list_id}>`], ['MIME-Version', '1.0'], ['Content-Type', 'text/plain; charset=UTF-8'], ['Content-Transfer-Encoding', '8bit']);
    return h;
  }
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

/** Headers as the sandbox stores them for the API's `headers` field. */
const stored = (h: Header[]): Record<string, string> => Object.fromEntries(h);

/** A change as git committed it in the scratch clone. */
interface MadeChange { change: Change; diff: string; stat: string }
interface MailedPatch { msgid: string; subject: string; patch: SbPatch }
interface MailedCover { msgid: string; subject: string; id: number }
interface MailedSeries { cover: MailedCover | undefined; patches: MailedPatch[] }
/** What every mail of one series shares. */
interface SeriesSender { author: Person; user: string; personId: number; seriesId: number; tag: string; total: number }

/** The git-mode generator: a base repository and patches made by git against it. */
function generateApplicable(data: SandboxData, project: SbProject, maildir: string, options: GenerateOptions, repo: string): Generated {
  // One count numbers the mail files, the scratch clones and the reply ids.
  const serial = new Serial();
  const sink = openMaildir(maildir, `${project.link_name}.git`, options, serial);
  initBaseRepository(repo);
  const scratch = mkdtempSync(join(tmpdir(), 'pwnm-gen-'));
  try {
    return new ApplyScenarioBuilder(data, project, sink, serial, repo, scratch, newestOf(options)).build(options.git?.dependent ?? false);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The maintainer's repository: BASE_FILES in one commit on `main`. */
function initBaseRepository(repo: string): void {
  mkdirSync(repo, { recursive: true });
  const git = gitIn(repo);
  git('init', '-q', '-b', 'main');
  git('config', 'user.name', 'Alice Maintainer');
  git('config', 'user.email', 'alice@example.org');
  writeTree(repo, BASE_FILES);
  git('add', '-A');
  git('commit', '-q', '-m', 'Initial import');
}

/** Mails the three series of an ApplyScenario, with their replies, and adds them to the data. */
class ApplyScenarioBuilder {
  private readonly patchIds: number[] = [];
  private readonly trailers: Record<string, string[]> = {};
  private readonly host: string;
  /** Mails go out ten minutes apart, starting a day before `newest`. */
  private clock: number;

  constructor(
    private readonly data: SandboxData,
    private readonly project: SbProject,
    private readonly sink: MailSink,
    private readonly serial: Serial,
    private readonly repo: string,
    private readonly scratch: string,
    newest: number,
  ) {
    // The list's name in the host: one Patchwork holds many test projects, and
    // its parser finds a Depends-on: message-id in any of them (first match).
    const [list, domain] = project.list_email.split('@') as [string, string];
    this.host = `${list}.${domain}`;
    this.clock = newest - 24 * 3_600_000;
  }

  build(withDependent: boolean): Generated {
    const single = this.singlePatch();
    const series = this.dependentSeries();
    const conflict = this.conflictingSeries();
    const ids = (s: MailedSeries): string[] => s.patches.map((p) => p.msgid);
    const dependent = withDependent ? this.seriesOnTop(series) : undefined;
    return {
      project: this.project, mails: this.sink.mails, patchIds: this.patchIds,
      scenario: {
        repo: this.repo, single: ids(single)[0]!, cover: series.cover!.msgid, series: ids(series), conflict: ids(conflict), trailers: this.trailers,
        ...(dependent ? { dependent: { cover: dependent.cover!.msgid, patches: ids(dependent) } } : {}),
      },
    };
  }

  /** Two patches on top of `base` (after all of it), whose cover letter names it in a Depends-on: line. */
  private seriesOnTop(base: MailedSeries): MailedSeries {
    const util = replaceLine(BASE_FILES['core/util.c']!, '\tstep_util(20);', '\tstep_util(20);\n\tutil_check();\n\tutil_report();');
    const dev = replaceLine(BASE_FILES['hw/dev.c']!, '\tstep_dev(5);', '\tdev_probe();\n\tstep_dev(5);');
    const made = this.commitChanges([
      { subject: 'util: report only failed checks', message: 'A passing check is not news.', files: { 'core/util.c': replaceLine(util, '\tutil_report();', '\tif (util_failed())\n\t\tutil_report();') } },
      { subject: 'hw/dev: probe once', message: 'The second probe finds nothing new.', files: { 'hw/dev.c': replaceLine(dev, '\tdev_probe();', '\tif (!dev_probed())\n\t\tdev_probe();') } },
    ], 'main', { 'core/util.c': util, 'hw/dev.c': dev });
    const s = this.mailSeries(CHLOE, 'util/more', made, true, `Depends-on: <${base.cover!.msgid}>\n`);
    // As Patchwork main's parser links them (where the project shows dependencies).
    const ids = [base, s].map((x) => this.data.covers.get(x.cover!.id)!.series!);
    this.data.series.get(ids[1]!)!.dependencies = [ids[0]!];
    return s;
  }

  /** One patch on its own, reviewed. */
  private singlePatch(): MailedSeries {
    const init = BASE_FILES['core/init.c']!;
    const single = this.mailSeries(BOB, 'core-init', this.commitChanges([{ subject: 'core: start at step zero', message: 'Count the init steps from zero, as the documentation says.', files: { 'core/init.c': replaceLine(init, '\tstep_init(3);', '\tstep_init(0);') } }], 'main'), false);
    this.reply(single.patches[0]!, ERIN, 'Reviewed-by');
    return single;
  }

  /** A series under a cover letter whose second patch needs the first; replies on two patches and the cover. */
  private dependentSeries(): MailedSeries {
    const util1 = replaceLine(BASE_FILES['core/util.c']!, '\tstep_util(20);', '\tstep_util(20);\n\tutil_check();');
    const util2 = replaceLine(util1, '\tutil_check();', '\tutil_check();\n\tutil_report();');
    const dev = BASE_FILES['hw/dev.c']!;
    const series = this.mailSeries(CHLOE, 'util-checks', this.commitChanges([
      { subject: 'util: check after step 20', message: 'The state is only consistent after step 20: check it there.', files: { 'core/util.c': util1 } },
      { subject: 'util: report the check', message: 'Say what the check found.', files: { 'core/util.c': util2 } },
      { subject: 'hw/dev: probe before step 5', message: 'Probe the device before it is used.', files: { 'hw/dev.c': replaceLine(dev, '\tstep_dev(5);', '\tdev_probe();\n\tstep_dev(5);') } },
    ], 'main'), true);
    this.reply(series.patches[0]!, GRACE, 'Tested-by');
    this.reply(series.patches[1]!, ERIN, 'Reviewed-by');
    this.reply(series.patches[1]!, ALICE, 'Acked-by');
    this.reply(series.cover!, BOB, 'Acked-by');
    return series;
  }

  /** A series whose second patch was made against a tree the repository never had. */
  private conflictingSeries(): MailedSeries {
    const init = BASE_FILES['core/init.c']!;
    const dev = BASE_FILES['hw/dev.c']!;
    const lateInit = replaceLine(init, '\tstep_init(30);', '\tstep_init_late(30);');
    const devWithout50 = replaceLine(dev, '\tstep_dev(50);\n', '');
    return this.mailSeries(BOB, 'dev-rework', [
      ...this.commitChanges([{ subject: 'hw/dev: drop step 50', message: 'Step 50 does nothing.', files: { 'hw/dev.c': devWithout50 } }], 'main'),
      ...this.commitChanges([{ subject: 'core: rename step 30', message: 'Follow the new name.', files: { 'core/init.c': replaceLine(lateInit, '\tstep_init_late(30);', '\tstep_init_final(30);') } }], 'main', { 'core/init.c': lateInit }),
      ...this.commitChanges([{ subject: 'hw/dev: drop step 40', message: 'Step 40 does nothing either.', files: { 'hw/dev.c': replaceLine(devWithout50, '\tstep_dev(40);\n', '') } }], 'main', { 'hw/dev.c': devWithout50 }),
    ], false);
  }

  private tick(): Date {
    return new Date((this.clock += 600_000));
  }

  /**
   * Commits `changes` one after the other in a fresh clone of the repository
   * at `start` (on top of `prepare`, if given, committed first: a tree the
   * repository never sees), so that each diff is git's own.
   */
  private commitChanges(changes: Change[], start: string, prepare?: Record<string, string>): MadeChange[] {
    const work = join(this.scratch, String(this.serial.next()));
    execFileSync('git', ['clone', '-q', this.repo, work], { stdio: 'ignore' });
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
  }

  /** Mails `made` as one series from `author` (after a cover letter if `withCover`) and adds it to the data. */
  private mailSeries(author: Person, tag: string, made: MadeChange[], withCover: boolean, coverNote = ''): MailedSeries {
    const person = this.data.addPerson(author[0], author[1]);
    const start = this.tick();
    const series = this.data.addSeries({ project: this.project.id, name: withCover ? `${tag}: series` : made[0]!.change.subject, version: 1, date: start.toISOString().slice(0, 19), total: made.length, submitter: person.id, cover: null });
    const sender: SeriesSender = { author, user: author[1].split('@')[0]!, personId: person.id, seriesId: series.id, tag, total: made.length };
    const cover = withCover ? this.mailCover(sender, start, made, coverNote) : undefined;
    return { cover, patches: made.map((m, i) => this.mailPatch(sender, m, i + 1, cover?.msgid)) };
  }

  private mailCover(s: SeriesSender, date: Date, made: MadeChange[], note: string): MailedCover {
    const msgid = `${s.tag}-0-${s.user}@${this.host}`;
    const subject = `[PATCH 0/${s.total}] ${s.tag}: series`;
    const h = this.headers(s.author, subject, msgid, date);
    const content = `This series reworks ${s.tag}.\n\n${made.map((m) => m.change.subject).join('\n')}\n${note ? `\n${note}` : ''}`;
    this.sink.write(msgid, h, `${content}\n-- \n2.39.5\n`);
    const cover = this.data.addCover({ project: this.project.id, msgid: `<${msgid}>`, date: date.toISOString().slice(0, 19), name: `[0/${s.total}] ${s.tag}: series`, submitter: s.personId, series: s.seriesId, content, headers: stored(h) });
    return { msgid, subject, id: cover.id };
  }

  private mailPatch(s: SeriesSender, { change, diff, stat }: MadeChange, number: number, cover: string | undefined): MailedPatch {
    const msgid = `${s.tag}-${number}-${s.user}@${this.host}`;
    const subject = `${s.total > 1 ? `[PATCH ${number}/${s.total}]` : '[PATCH]'} ${change.subject}`;
    const date = this.tick();
    const h = this.headers(s.author, subject, msgid, date, cover);
    const content = `${change.message}\n\nSigned-off-by: ${s.author[0]} <${s.author[1]}>\n---\n${stat}\n`;
    this.sink.write(msgid, h, `${content}${diff}-- \n2.39.5\n`);
    const patch = this.data.addPatch({
      project: this.project.id, msgid: `<${msgid}>`, name: s.total > 1 ? `[${number}/${s.total}] ${change.subject}` : change.subject, submitter: s.personId,
      date: date.toISOString().slice(0, 19), state: 'new', series: s.seriesId, number, diff, content, headers: stored(h),
    }, true);
    this.patchIds.push(patch.id);
    return { msgid, subject, patch };
  }

  /** A reply giving `trailer` (Reviewed-by, ...) to a patch or cover letter: mailed, stored as a comment, and for a patch noted in `trailers`. */
  private reply(to: MailedPatch | MailedCover, who: Person, trailer: string): void {
    const msgid = `${to.msgid.split('@')[0]}.re${this.serial.next()}@${who[1].split('@')[1]}`;
    const date = this.tick();
    const content = `On ${rfc2822(date)}, someone wrote:\n> looks right\n\n${trailer}: ${who[0]} <${who[1]}>\n`;
    this.sink.write(msgid, this.headers(who, `Re: ${to.subject}`, msgid, date, to.msgid), content);
    const patch = 'patch' in to ? to.patch : undefined;
    this.data.addComment({ patch: patch?.id ?? null, cover: 'id' in to ? to.id : null, msgid: `<${msgid}>`, date: date.toISOString().slice(0, 19), submitter: this.data.addPerson(who[0], who[1]).id, content });
    if (patch) (this.trailers[to.msgid] ??= []).push(`${trailer}: ${who[0]} <${who[1]}>`);
  }

  private headers(from: Person, subject: string, msgid: string, date: Date, reply?: string): Header[] {
    // As git send-email writes it: a non-ASCII name RFC 2047-encoded (a raw
    // 8-bit header reaches Patchwork's mbox as unknown-8bit, which git am refuses).
    const h: Header[] = [['From', formataddr(from[0], from[1])], ['To', this.project.list_email], ['Subject', subject], ['Date', rfc2822(date)], ['Message-ID', `<${msgid}>`]];
    if (reply) h.push(['In-Reply-To', `<${reply}>`], ['References', `<${reply}>`]);
    h.push(['List-Id', `<${this.project.list_id}>`], ['MIME-Version', '1.0'], ['Content-Type', 'text/plain; charset=UTF-8'], ['Content-Transfer-Encoding', '8bit']);
    return h;
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
