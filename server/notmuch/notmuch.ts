import { execa, type ExecaError } from 'execa';
import { PwnmError } from '../errors.js';
import { timeline } from '../timeline.js';
import { TagSets } from './tag-sets.js';
import { batchLine, idQuery, parseDumpLine, type TagChange } from './encoding.js';

// Every call here is one process for a whole batch: one dump for all the
// messages we track, one `tag --batch` per chunk, one `count --batch`.

export interface NotmuchOptions {
  /** Database path; passed as NOTMUCH_DATABASE. Default: notmuch's config. */
  database?: string;
  /** How long one call may wait for the write lock, in milliseconds. */
  lockTimeoutMs?: number;
  /** How long a dump, once it has the lock, may go without a line before it counts as stuck (tests shorten it). */
  dumpSilenceMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Header name to value, as notmuch's JSON spells them (`In-reply-to`). */
export interface ReplyHeaders { reply: Record<string, string>; original: Record<string, string> }

export interface Revision { uuid: string; lastmod: number }

/** Where a dump puts what it reads: a Map, or a store of the same shape (server/store/message-tags.ts). */
export interface TagSink { set(msgid: string, tags: string[]): unknown }

const LOCK_ERROR = /lock|DatabaseLockError|Unable to get write/i;
/**
 * A read that a writer's commits overtook (Xapian keeps a reader's
 * revision through one commit, not two): read again. notmuch says so
 * plainly, or, midway through a thread, that it has no top-level message.
 */
const READ_OVERTAKEN = /DatabaseModifiedError|has been discarded|has no toplevel messages/i;

export class Notmuch {
  /** Process calls made, for `--json` reports and the benchmark. */
  calls = 0;
  private readonly env: NodeJS.ProcessEnv;
  private readonly lockTimeoutMs: number;
  private readonly dumpSilenceMs: number;

  constructor(options: NotmuchOptions = {}) {
    this.env = { ...(options.env ?? process.env) };
    if (options.database) this.env.NOTMUCH_DATABASE = options.database;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
    this.dumpSilenceMs = options.dumpSilenceMs ?? 30_000;
  }

  /**
   * Run notmuch. `workMs` is what the call may take once it has the write
   * lock; the rest of the time limit is our wait for that lock. Calls that
   * never wait for it (count, search, config) get no limit of ours.
   */
  private async run(args: string[], input?: string, workMs?: number, onLine?: (line: string) => void): Promise<string> {
    const end = timeline.begin(args[0] === 'tag' ? 'tag' : 'notmuch', `notmuch ${args.join(' ').slice(0, 100)}`, timeline.enabled && input ? countLines(input) : undefined);
    try {
      return await this.runOnce(args, input, workMs, onLine);
    } finally {
      end();
    }
  }

  private async runOnce(args: string[], input: string | undefined, workMs: number | undefined, onLine: ((line: string) => void) | undefined): Promise<string> {
    const started = Date.now();
    const deadline = workMs === undefined ? Infinity : started + this.lockTimeoutMs + workMs;
    // Output read line by line has no end known in advance (a dump of 1.4
    // million messages takes most of a minute): its limit is on silence.
    const idleMs = onLine && workMs !== undefined ? this.lockTimeoutMs + workMs : undefined;
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      this.calls++;
      let silent = false;
      let watchdog: (() => void) | undefined;
      try {
        const subprocess = execa('notmuch', args, {
          env: this.env,
          extendEnv: false,
          input: input ?? '',
          maxBuffer: 1024 * 1024 * 1024,
          ...(deadline === Infinity || idleMs !== undefined ? {} : { timeout: Math.max(1000, deadline - Date.now()) }),
          stripFinalNewline: false,
          // A large dump is read line by line, never held whole.
          ...(onLine ? { buffer: { stdout: false } } : {}),
        });
        if (idleMs !== undefined) watchdog = onSilence(subprocess.stdout!, idleMs, () => { silent = true; subprocess.kill(); });
        const lines = onLine && splitLines(subprocess.stdout!, onLine);
        const result = await subprocess;
        await lines;
        return onLine ? '' : result.stdout;
      } catch (err) {
        const e = err as ExecaError;
        if (silent) e.timedOut = true;
        if ((e as { code?: string }).code === 'ENOENT') {
          throw new PwnmError('NOTMUCH_MISSING', 'notmuch not found: install it (Debian/Ubuntu: apt-get install notmuch) or put it on PATH', { cause: err });
        }
        const command = `notmuch ${args.join(' ')}`;
        const stderr = String(e.stderr ?? '').trim();
        if (e.timedOut || (LOCK_ERROR.test(stderr) && Date.now() + delay >= deadline)) {
          const waited = Math.round((Date.now() - started) / 1000);
          throw new PwnmError('NOTMUCH_LOCKED', `the notmuch database stayed locked for ${waited} s (is notmuch new running?); nothing was lost, run the sync again`, { cause: err, details: { command, stderr } });
        }
        // Both wait their turn the same way: a writer is at work.
        const overtaken = args[0] !== 'tag' && READ_OVERTAKEN.test(stderr) && Date.now() + delay < started + this.lockTimeoutMs;
        if (LOCK_ERROR.test(stderr) || overtaken) {
          await new Promise((r) => setTimeout(r, delay));
          continue;
        }
        const setup = notSetUp(stderr);
        if (setup) throw new PwnmError('NOTMUCH_FAILED', `${setup.missing}: run ${setup.fix}`, { cause: err, details: { command, exitCode: e.exitCode, stderr, fix: setup.fix } });
        throw new PwnmError('NOTMUCH_FAILED', `${command} failed (exit ${String(e.exitCode)}): ${stderr.split('\n')[0] ?? ''}`, { cause: err, details: { command, exitCode: e.exitCode, stderr } });
      } finally {
        watchdog?.();
      }
    }
  }

  async databasePath(): Promise<string> {
    return this.configGet('database.path');
  }

  async configGet(key: string): Promise<string> {
    return (await this.run(['config', 'get', key])).trim();
  }

  /**
   * Current tags of every message matching `query`, by message-id, into
   * `into` (a new Map unless given). With `shared`, messages with the same
   * tags share one frozen array (a large sync holds them all): copy one to
   * change it.
   */
  async dump(query: string, shared?: TagSets): Promise<Map<string, string[]>>;
  async dump<T extends TagSink>(query: string, shared: TagSets, into: T): Promise<T>;
  async dump(query: string, shared?: TagSets, into: TagSink = new Map<string, string[]>()): Promise<TagSink> {
    const result = into;
    const sets = shared ?? new TagSets();
    // dump waits for the write lock too (seen with notmuch 0.37): past the
    // lock's wait, 30 s without a line means it is stuck.
    await this.run(['dump', '--format=batch-tag', '--', query], undefined, this.dumpSilenceMs, (line) => {
      const parsed = parseDumpLine(line);
      if (parsed) result.set(parsed.msgid, shared ? sets.intern(parsed.tags) : sets.intern(parsed.tags).slice());
    });
    return result;
  }

  /** Apply tag changes in one `notmuch tag --batch` process. */
  async tag(changes: readonly TagChange[]): Promise<void> {
    if (changes.length === 0) return;
    const input = changes.map(batchLine).join('\n') + '\n';
    // notmuch rewrites a message in 1-2 ms; allow ten times that, and at least 5 s.
    await this.run(['tag', '--batch'], input, Math.max(5000, changes.length * 20));
  }

  /**
   * Add one mail to the database as a file in `folder` of the maildir
   * (created if need be), tagged with new.tags as `notmuch new` would, then
   * `tags` added.
   */
  async insert(mail: string, folder: string, tags: readonly string[] = []): Promise<void> {
    await this.run(['insert', `--folder=${folder}`, '--create-folder', ...tags.map((t) => `+${t}`), '--'], mail, 30_000);
  }

  /** One count per query, in one process. */
  async count(queries: readonly string[]): Promise<number[]> {
    if (queries.length === 0) return [];
    const out = await this.run(['count', '--batch'], queries.map((q) => q.replace(/\n/g, ' ')).join('\n') + '\n');
    return out.trim().split('\n').map(Number);
  }

  /** Date of the oldest thread matching `query`, undefined when none does. */
  async oldest(query: string): Promise<Date | undefined> {
    const out = await this.run(['search', '--format=json', '--output=summary', '--sort=oldest-first', '--limit=1', '--', query]);
    const first = (JSON.parse(out || '[]') as { timestamp: number }[])[0];
    return first ? new Date(first.timestamp * 1000) : undefined;
  }

  /** What `notmuch reply` (reply-all) would write to a message: its headers, and the original's. */
  async replyTo(msgid: string): Promise<ReplyHeaders | undefined> {
    const out = await this.run(['reply', '--format=json', '--reply-to=all', '--', idQuery(msgid)]);
    if (!out.trim()) return undefined;
    const r = JSON.parse(out) as { 'reply-headers': Record<string, string>; original: { headers: Record<string, string> } };
    return { reply: r['reply-headers'], original: r.original.headers };
  }

  /** Every thread with a message matching `query`, whole, as `notmuch show --format=json` gives it. */
  async showThreads(query: string): Promise<unknown[]> {
    const out = await this.run(['show', '--format=json', '--entire-thread=true', '--', query]);
    return JSON.parse(out || '[]') as unknown[];
  }

  /** Each thread with a message matching `query`, by id (`thread:...`), read line by line. */
  async eachThread(query: string, onThread: (id: string) => void): Promise<void> {
    await this.run(['search', '--output=threads', '--', query], undefined, undefined, (line) => {
      if (line) onThread(line);
    });
  }

  /** The user's own addresses (user.primary_email and user.other_email), lower-cased. */
  async userAddresses(): Promise<string[]> {
    const values = await Promise.all(['user.primary_email', 'user.other_email'].map((key) => this.configGet(key).catch(() => '')));
    return values.join('\n').split(/[\n;]/).map((a) => a.trim().toLowerCase()).filter(Boolean);
  }

  /** The database's UUID and revision, for reading only what changed since. */
  async revision(): Promise<Revision> {
    const [, uuid, lastmod] = (await this.run(['count', '--lastmod', '--', 'id:""'])).trim().split('\t');
    return { uuid: uuid ?? '', lastmod: Number(lastmod) };
  }
}

/** Call `onIdle` when `stream` has been silent for `ms`; returns the way to stop watching. */
function onSilence(stream: NodeJS.ReadableStream, ms: number, onIdle: () => void): () => void {
  let last = Date.now();
  const seen = (): void => { last = Date.now(); };
  stream.on('data', seen);
  const timer = setInterval(() => { if (Date.now() - last > ms) onIdle(); }, Math.min(ms, 1000));
  return () => {
    clearInterval(timer);
    stream.off('data', seen);
  };
}

/**
 * Hand each line of a stream to `onLine` as chunks arrive: a dump of
 * 100,000 messages is parsed while notmuch still writes it, without one
 * await per line (execa's line iterator took longer than notmuch itself).
 */
function splitLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): Promise<void> {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    let start = 0;
    for (let end = chunk.indexOf('\n'); end !== -1; end = chunk.indexOf('\n', start)) {
      onLine(rest + chunk.slice(start, end));
      rest = '';
      start = end + 1;
    }
    rest += chunk.slice(start);
  });
  return new Promise((resolve) => {
    stream.on('end', () => {
      if (rest) onLine(rest);
      resolve();
    });
    // A stream cut short (notmuch failed) ends the wait too; the failure comes from the process.
    stream.on('close', resolve);
  });
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** What a newcomer's notmuch lacks, from its stderr, and the one command that fixes it. */
export function notSetUp(stderr: string): { missing: string; fix: string } | undefined {
  if (/cannot load config file/i.test(stderr)) return { missing: 'notmuch is not set up (it has no config file)', fix: 'notmuch setup' };
  const db = /Cannot open database at (.+?)(?:\/\.notmuch)?: No such file or directory/.exec(stderr);
  if (db) return { missing: `there is no notmuch database in ${db[1]!} yet`, fix: 'notmuch new' };
  return undefined;
}
