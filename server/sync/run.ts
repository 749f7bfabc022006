import type { InstanceConfig, Prefer } from '../config.js';
import { PwnmError } from '../errors.js';
import type { Revision } from '../notmuch/notmuch.js';
import { TagSets } from '../notmuch/tag-sets.js';
import type { PatchworkClient } from '../patchwork/client.js';
import type { Session } from '../session.js';
import { MessageTags } from '../store/message-tags.js';
import type { PatchRow } from '../store/store.js';
import { IdSet } from './id-set.js';
import type { Conflict } from './planner.js';
import { TagWriter, type TagItem } from './tag-writer.js';
import type { MessageEvent, ProjectSummary, Progress, Report, SyncOptions } from './types.js';

// What one project's sync carries from step to step: its inputs, the tags
// it has read, the pushes it has planned and the summary it builds.

/** A change to send: a new state, a new archived flag, or both. */
export interface Push {
  msgid: string; patchId: number; state?: string; archived?: boolean; remote: string; conflict?: Conflict;
  /** The stored row the push was planned from: its checks and delegate are retagged with the outcome. */
  row?: PatchRow | undefined;
}

/** A patch whose mail was not among the tags read yet. */
export interface Unseen { msgid: string; patchId: number; remote: string }

export const describePush = (p: Pick<Push, 'state' | 'archived'>): string => [p.state, p.archived === undefined ? undefined : p.archived ? 'archived' : 'not archived'].filter(Boolean).join(', ');

export function checkCancel(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new PwnmError('CANCELLED', 'sync cancelled; what was applied is kept, the rest waits for the next sync');
}

/** Messages whose tags changed since `lastmod`, read once and shared by the projects. */
export class LocalChanges {
  private cache = new Map<number, Promise<Map<string, string[]>>>();
  private readonly tagSets = new TagSets();
  constructor(private readonly session: Session, readonly revision: Revision) {}

  since(lastmod: number): Promise<Map<string, string[]>> {
    if (lastmod >= this.revision.lastmod) return Promise.resolve(new Map<string, string[]>());
    let read = this.cache.get(lastmod);
    if (!read) {
      read = this.session.notmuch.dump(`lastmod:${lastmod + 1}..`, this.tagSets);
      this.cache.set(lastmod, read);
    }
    return read;
  }
}

export class ProjectRun {
  readonly summary: ProjectSummary;
  readonly dryRun: boolean;
  readonly prefer: Prefer;
  readonly writer: TagWriter;
  client: PatchworkClient | undefined;
  requestsBefore = 0;
  /** Shared arrays for the tags kept in `local` (most messages end with the same few). */
  readonly tagSets = new TagSets();
  /** Tags of the messages this run looked at, kept current as we retag; a long history's go to SQLite. */
  readonly local: MessageTags;
  /** Resolves once `local` holds the local side; the remote side is read meanwhile. */
  localRead: Promise<void> = Promise.resolve();
  /** Patches planned this run, by id: bits, not a second copy of every message-id. */
  readonly handled = new IdSet();
  readonly unseen: Unseen[] = [];
  readonly pushes: Push[] = [];
  suffixes = new Map<string, string>();

  constructor(
    readonly session: Session,
    readonly inst: InstanceConfig,
    readonly project: string,
    readonly configuredList: string | undefined,
    readonly options: SyncOptions,
    readonly changes: LocalChanges,
  ) {
    this.dryRun = Boolean(options.dryRun);
    this.local = new MessageTags(session.store, this.tagSets, options.spillAfter);
    this.prefer = options.prefer ?? session.config.prefer;
    this.summary = {
      instance: inst.name, project, mode: 'full', local: 'full', since: null, fetched: 0, eventsRead: 0, retagged: 0, pushed: 0,
      conflicts: [], ambiguous: [], refused: [], queued: [], missingLocally: 0, httpRequests: 0, notmuchCalls: 0, notes: [], errors: [],
    };
    this.writer = new TagWriter(session.notmuch, {
      transaction: (fn) => session.store.transaction(fn),
      commit: (item) => this.commitTagged(item),
      onBatch: () => this.progress('tag', this.writer.applied, 0, `${project}: tagged ${this.writer.applied} messages`),
      skip: (msgid) => !options.messageIds && session.claimed.has(msgid),
    });
  }

  /** Record an applied tag change as agreed (see retag in apply.ts). */
  private commitTagged({ msgid, state, archived, conflict }: TagItem): void {
    const { store } = this.session;
    const instance = this.inst.name;
    store.commitBaseline(instance, this.project, msgid, state);
    if (archived !== undefined) store.commitArchived(instance, this.project, msgid, archived);
    store.dropPending(instance, this.project, msgid, 'push');
    store.dropPending(instance, this.project, msgid, 'ambiguous');
    if (conflict) store.putPending({ instance, project: this.project, msgid, kind: 'conflict', state, reason: conflict });
  }

  progress(phase: Progress['phase'], done: number, total: number, message: string): void {
    this.options.onProgress?.({ phase, project: this.project, done, total, message });
  }

  report(kind: MessageEvent['kind'], list: Report[], report: Report): void {
    list.push(report);
    this.options.onMessage?.({ msgid: report.msgid, project: this.project, kind, ...(report.local ? { state: report.local } : {}), reason: report.reason });
  }

  /** Record a change that waits: reported, and kept in the store's pending list. */
  queue(push: Omit<Push, 'conflict' | 'row'>, reason: string, attempts?: number): void {
    const label = describePush(push);
    this.report('queued', this.summary.queued, { msgid: push.msgid, patchId: push.patchId, local: label, remote: push.remote, reason });
    if (!this.dryRun) this.session.store.putPending({ instance: this.inst.name, project: this.project, msgid: push.msgid, kind: 'push', state: label, reason, ...(attempts ? { attempts } : {}) });
  }

  inTransaction(fn: () => void): void {
    if (this.dryRun) fn();
    else this.session.store.transaction(fn);
  }
}
