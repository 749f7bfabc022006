import { CancellationToken, ResponseError, type CancellationTokenSource, type MessageConnection } from 'vscode-jsonrpc/node.js';
import { withSignal } from '../cancel.js';
import type { Config } from '../config.js';
import { PwnmError } from '../errors.js';
import { Session } from '../session.js';
import { RpcCode } from './errors.js';

// What one `serve` process holds between requests: the session, the tokens
// Emacs gave, and the one sync and one apply that may be running.

/** A job that can be cancelled and waited for. */
interface Job { abort: AbortController; done: Promise<unknown> }

/** Above this many changed messages, tagsChanged says "all" instead of listing them. */
const MAX_LISTED = 1000;

export class ServerState {
  session: Session | undefined;
  tokens: Record<string, string> = {};
  /** What the current session was made from, to tell an unchanged initialize. */
  madeFrom = '';
  shutdown = false;
  running: Job | undefined;
  applying: Job | undefined;
  /** Requests using the session now (push, setState, acceptFromGit, ...): a new session waits for them. */
  readonly inFlight = new Set<Promise<unknown>>();
  /** Running requests the client named with a `cancelToken`, for `cancel`. */
  readonly cancellable = new Map<string, CancellationTokenSource>();

  constructor(readonly connection: MessageConnection, readonly env: NodeJS.ProcessEnv) {}

  ready(): Session {
    if (!this.session) throw new ResponseError(RpcCode.ServerNotInitialized, 'send initialize first');
    return this.session;
  }

  notify(method: string, params: unknown): void {
    void this.connection.sendNotification(method, params);
  }

  tagsChanged(ids: Iterable<string>): void {
    const list = [...new Set(ids)];
    if (list.length === 0) return;
    this.notify('pwnm/tagsChanged', list.length > MAX_LISTED ? { all: true, messageIds: [] } : { all: false, messageIds: list });
  }

  /** Replace the session; requests still using the old one finish first, so its store is never closed under them. */
  async reopen(config: Config, tokens: Record<string, string>, key: string): Promise<Session> {
    // Never close the store under a running sync.
    if (this.running) throw new PwnmError('SYNC_RUNNING', 'a sync is running; initialize with a new config or tokens once it ends, or cancel it (cancelSync)');
    this.tokens = { ...tokens };
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.session?.close();
    this.session = new Session(config, { tokens: this.tokens, env: this.env });
    this.madeFrom = key;
    return this.session;
  }

  /** Runs one sync-shaped job at a time; a second is refused, not queued. */
  async exclusive<T>(job: (signal: AbortSignal) => Promise<T>, token?: CancellationToken): Promise<T> {
    if (this.running) throw new PwnmError('SYNC_RUNNING', 'a sync is already running in this server; wait for it or cancel it (cancelSync)');
    const abort = new AbortController();
    token?.onCancellationRequested(() => abort.abort());
    const done = withSignal(abort.signal, () => job(abort.signal));
    this.running = { abort, done };
    try {
      return await done;
    } finally {
      this.running = undefined;
    }
  }

  /** One apply at a time: two would race for the same work tree. */
  async applyOne<T>(job: (signal: AbortSignal) => Promise<T>, token: CancellationToken): Promise<T> {
    if (this.applying) throw new PwnmError('GIT', 'an apply is already running in this server; wait for it or cancel it');
    const abort = new AbortController();
    let finished = (): void => undefined;
    this.applying = { abort, done: new Promise<void>((resolve) => { finished = resolve; }) };
    token.onCancellationRequested(() => abort.abort());
    try {
      return await withSignal(abort.signal, () => job(abort.signal));
    } finally {
      this.applying = undefined;
      finished();
    }
  }

  /** Cancel the running request the client named `token`; false when none runs. */
  cancel(token: string): boolean {
    const source = this.cancellable.get(token);
    source?.cancel();
    return Boolean(source);
  }

  cancelSync(): boolean {
    this.running?.abort.abort();
    return Boolean(this.running);
  }

  /** Stop what runs (an apply rolls back between two patches), wait for it, close the session. */
  async stopAll(): Promise<void> {
    this.cancelSync();
    this.applying?.abort.abort();
    await this.applying?.done;
    await this.running?.done.catch(() => undefined);
    await this.session?.close();
    this.session = undefined;
  }
}
