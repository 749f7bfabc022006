import type { TagChange } from '../notmuch/encoding.js';
import type { Notmuch } from '../notmuch/notmuch.js';
import { timeline } from '../timeline.js';
import { crashPoint } from './crash.js';

// Applies tag changes in `notmuch tag --batch` calls of about a second each,
// one at a time, while the caller goes on fetching. Short batches matter:
// notmuch holds its write lock for a whole batch, and Emacs's synchronous
// `notmuch tag` (or `notmuch new`) waits for it. A first or full sync, which
// writes every message once, uses longer batches (bulk()): each batch opens
// the database and commits on its own, so fewer batches finish sooner, and
// the lock is still let go often enough that nothing waits much over a batch.

/** Batch duration aimed at in incremental syncs. */
const SHORT_BATCH_MS = 1000;
/** Batch duration aimed at in a first or full sync: what a concurrent `notmuch tag` may wait, less a margin for a batch that runs long. */
export const BULK_BATCH_MS = 1200;

/**
 * One message's change and what to record once it is applied. Plain data,
 * not a closure: a large first sync keeps thousands of these queued, and a
 * closure per message would also keep a captured context per message alive.
 */
export interface TagItem {
  msgid: string;
  /** null: the tags are already right, only the record is left. */
  change: TagChange | null;
  /** The state now agreed on. */
  state: string;
  /** The archived flag now agreed on, when the change set one. */
  archived?: boolean;
  /** A conflict to keep in the pending list. */
  conflict?: string;
}

export interface TagWriterOptions {
  targetMs?: number;
  /** Wraps the records of one batch, e.g. in one store transaction. */
  transaction: (fn: () => void) => void;
  /** Records one applied item in the state database. */
  commit: (item: TagItem) => void;
  onBatch?: (applied: number) => void;
  /** Items to drop at the last moment (messages someone else changed meanwhile). */
  skip?: (msgid: string) => boolean;
}

export class TagWriter {
  applied = 0;
  private queue: TagItem[] = [];
  private batchSize = 250;
  private maxBatch = 5000;
  private targetMs: number;
  private running: Promise<void> | undefined;
  private failure: Error | undefined;
  private stopped = false;
  /** Producers waiting for the queue to shrink. */
  private waiters: (() => void)[] = [];

  constructor(private readonly notmuch: Notmuch, private readonly options: TagWriterOptions) {
    this.targetMs = options.targetMs ?? SHORT_BATCH_MS;
  }

  /**
   * Longer batches, for a sync that writes every message once. The first
   * batch stays short: until one batch has shown notmuch's rate on this
   * machine, under this load, a long one could hold the lock far longer
   * than aimed at (1,000 messages took 4.2 s while the server listed).
   */
  bulk(): void {
    this.targetMs = BULK_BATCH_MS;
    this.maxBatch = 50_000;
  }

  add(item: TagItem): void {
    if (this.stopped) return;
    this.queue.push(item);
    if (this.queue.length >= this.batchSize) this.kick(false);
  }

  /** Apply everything queued; rethrows a failure of any batch. */
  async flush(): Promise<void> {
    do {
      this.kick(true);
      while (this.running) await this.running;
    } while (!this.failure && this.queue.length > 0);
    if (this.failure) throw this.failure;
  }

  /**
   * Wait while more than a batch is queued besides the one being written.
   * Fetching outruns tagging (notmuch rewrites ~1,000 messages a second), so
   * without this a large first sync would hold every change in memory and,
   * with the server's workers taking both cores, leave notmuch a long tail
   * to write alone at the end; with it, the listing goes at tagging's pace,
   * memory is bounded by two batches and tagging never runs dry.
   */
  async room(): Promise<void> {
    while (this.queue.length > this.batchSize && !this.failure && !this.stopped) {
      this.kick(false);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.failure) throw this.failure;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Drop what is not applied yet (journals stay; the next run re-plans). */
  stop(): void {
    this.stopped = true;
    this.queue = [];
    this.wake();
  }

  private kick(all: boolean): void {
    if (this.running || this.failure) return;
    this.running = this.drain(all).catch((err: unknown) => {
      this.failure = err instanceof Error ? err : new Error(String(err));
      this.queue = [];
    }).finally(() => {
      this.running = undefined;
      this.wake();
      if (!this.failure && this.queue.length >= this.batchSize) this.kick(false);
    });
  }

  /**
   * Batches one after another. Each batch is recorded in the store while
   * notmuch already applies the next one, so the store never holds up the
   * tagger; a batch is recorded only once notmuch has applied it, also when
   * the next one fails.
   */
  private async drain(all: boolean): Promise<void> {
    const target = this.targetMs;
    let record: (() => void) | undefined;
    try {
      while (this.queue.length >= this.batchSize || (all && this.queue.length > 0)) {
        const batch = this.queue.splice(0, this.batchSize).filter((i) => !this.options.skip?.(i.msgid));
        const changes = batch.flatMap((i) => (i.change ? [i.change] : []));
        const started = performance.now();
        const tagging = this.notmuch.tag(changes);
        record?.();
        record = undefined;
        await tagging;
        crashPoint('after-tag');
        record = () => this.record(batch, changes.length);
        const elapsed = performance.now() - started;
        if (changes.length >= 50 && elapsed > 0) {
          // Aim the next batch at the target duration from the rate just seen,
          // growing by half at most: a batch that ran fast while the listing
          // waited would otherwise size the next for a machine it no longer has.
          const rate = changes.length / elapsed;
          this.batchSize = Math.max(50, Math.min(this.maxBatch, Math.round(1.5 * batch.length), Math.round(rate * target)));
        }
      }
    } finally {
      record?.();
    }
  }

  /** Commit one applied batch to the store. */
  private record(batch: readonly TagItem[], changed: number): void {
    const end = timeline.begin('store', `record ${batch.length} tagged messages`, batch.length);
    this.options.transaction(() => batch.forEach((i) => this.options.commit(i)));
    end();
    this.applied += changed;
    this.options.onBatch?.(changed);
    this.wake();
  }
}
