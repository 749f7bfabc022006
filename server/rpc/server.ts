import type { Readable, Writable } from 'node:stream';
import { CancellationToken, createMessageConnection, ResponseError, type Message, type MessageConnection, type ResponseMessage } from 'vscode-jsonrpc/node.js';
import { StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node.js';
import { loadConfig, type ConfigOverrides } from '../config.js';
import { PwnmError } from '../errors.js';
import { notmuchMessageId } from '../notmuch/encoding.js';
import { Session } from '../session.js';
import { stateName } from '../states.js';
import { counts } from '../status.js';
import { toRemote } from '../patchwork/remote.js';
import { sync, type MessageEvent, type Progress, type SyncSummary } from '../sync/engine.js';
import type { PwCheck, PwPatch } from '../patchwork/types.js';
import { findPatches, setDelegate, setState } from '../sync/set-state.js';
import type { PendingRow } from '../store/store.js';
import { holdSecret, redact, redactJson } from '../secrets.js';
import { VERSION } from '../version.js';
import { RpcCode, toResponseError } from './errors.js';
import { params } from './params.js';

// `pwnm-sync serve`: JSON-RPC 2.0 over stdio with Content-Length framing.
// Handlers only translate between the protocol and the domain modules;
// errors become JSON-RPC errors in one place (rpc/errors.ts). stdout
// carries protocol messages and nothing else; logs go to stderr.

export interface ServeOptions {
  input: Readable;
  output: Writable;
  overrides?: ConfigOverrides;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  onExit?: (code: number) => void;
}

/** Requests that do not use the session, or replace it. */
const SESSIONLESS = new Set(['initialize', 'setTokens', 'shutdown', 'cancelSync']);
/** Progress notifications at most this often (phase changes always go). */
const PROGRESS_EVERY_MS = 100;
/** Above this many changed messages, tagsChanged says "all" instead of listing them. */
const MAX_LISTED = 1000;

export function pendingId(row: PendingRow): string {
  return JSON.stringify([row.kind, row.instance, row.project, row.msgid]);
}

/**
 * Every message we send passes here: results, errors and notifications
 * (window/logMessage, progress) alike, with every token the process holds
 * hidden, since a server's error text can quote anything.
 */
class RedactingWriter extends StreamMessageWriter {
  override write(msg: Message): Promise<void> {
    return super.write(redactJson(msg));
  }
}

export function serve(options: ServeOptions): MessageConnection {
  const env = options.env ?? process.env;
  const rawLog = options.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const log = (line: string): void => rawLog(redact(line));
  let session: Session | undefined;
  let tokens: Record<string, string> = {};
  let running: { abort: AbortController; done: Promise<unknown> } | undefined;
  let shutdown = false;

  const writer = new RedactingWriter(options.output);
  const connection = createMessageConnection(new StreamMessageReader(options.input), writer, {
    error: (m) => log(`error: ${m}`),
    warn: (m) => log(`warn: ${m}`),
    info: (m) => log(`info: ${m}`),
    log: (m) => log(m),
  });

  const ready = (): Session => {
    if (!session) throw new ResponseError(RpcCode.ServerNotInitialized, 'send initialize first');
    return session;
  };
  const tagsChanged = (ids: Set<string>): void => {
    if (ids.size === 0) return;
    void connection.sendNotification('pwnm/tagsChanged', ids.size > MAX_LISTED ? { all: true, messageIds: [] } : { all: false, messageIds: [...ids] });
  };

  /** Register a request handler whose errors become JSON-RPC errors. */
  function handle<P, R>(method: string, fn: (p: P, token: CancellationToken) => Promise<R> | R): void {
    connection.onRequest(method, async (raw: unknown, token: CancellationToken) => {
      const work = (async () => fn(raw as P, token))();
      if (!SESSIONLESS.has(method)) inFlight.add(work);
      try {
        return await work;
      } catch (err) {
        if (!(err instanceof ResponseError) && !(err instanceof PwnmError)) log(`internal error in ${method}: ${String((err as Error).stack ?? err)}`);
        throw toResponseError(err);
      } finally {
        inFlight.delete(work);
      }
    });
  }

  /** Runs one sync-shaped job at a time; a second is refused, not queued. */
  async function exclusive<T>(job: (signal: AbortSignal) => Promise<T>, token?: CancellationToken): Promise<T> {
    if (running) throw new PwnmError('SYNC_RUNNING', 'a sync is already running in this server; wait for it or cancel it (cancelSync)');
    const abort = new AbortController();
    token?.onCancellationRequested(() => abort.abort());
    const done = job(abort.signal);
    running = { abort, done };
    try {
      return await done;
    } finally {
      running = undefined;
    }
  }

  /** What the current session was made from, to tell an unchanged initialize. */
  let madeFrom = '';
  /** Requests using the session now (push, setState, acceptFromGit, ...): a new session waits for them. */
  const inFlight = new Set<Promise<unknown>>();
  handle('initialize', async (raw: unknown) => {
    const p = params<{ configFile?: string; tokens?: Record<string, string>; clientInfo?: object }>(raw, { configFile: 'string?', tokens: 'object?', clientInfo: 'object?' });
    for (const [k, v] of Object.entries(p.tokens ?? {})) if (typeof v !== 'string') throw new ResponseError(RpcCode.InvalidParams, `tokens.${k} must be a string`);
    for (const v of Object.values(p.tokens ?? {})) holdSecret(v);
    const { config, warnings } = loadConfig({ ...options.overrides, ...(p.configFile ? { configFile: p.configFile } : {}) }, env);
    for (const w of warnings) void connection.sendNotification('window/logMessage', { type: 2, message: w });
    const key = JSON.stringify([config, p.tokens ?? {}]);
    // The same config and tokens again: keep the session (and any sync it runs).
    if (session && key === madeFrom) return { serverInfo: { name: 'pwnm-sync', version: VERSION }, ...describe(session) };
    // Never close the store under a running sync.
    if (running) throw new PwnmError('SYNC_RUNNING', 'a sync is running; initialize with a new config or tokens once it ends, or cancel it (cancelSync)');
    tokens = { ...(p.tokens ?? {}) };
    // Requests still using the old session finish first: its store is never closed under them.
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    await session?.close();
    session = new Session(config, { tokens, env });
    madeFrom = key;
    return { serverInfo: { name: 'pwnm-sync', version: VERSION }, ...describe(session) };
  });

  handle('setTokens', (raw: unknown) => {
    const s = ready();
    const p = params<{ tokens: Record<string, string> }>(raw, { tokens: 'object' });
    for (const [k, v] of Object.entries(p.tokens)) if (typeof v !== 'string') throw new ResponseError(RpcCode.InvalidParams, `tokens.${k} must be a string`);
    s.addTokens(p.tokens);
    tokens = { ...tokens, ...p.tokens };
    madeFrom = JSON.stringify([s.config, tokens]);
    return { serverInfo: { name: 'pwnm-sync', version: VERSION }, ...describe(s) };
  });

  handle('sync', async (raw: unknown, token) => {
    const s = ready();
    const p = params<{ projects?: string[]; full?: boolean; dryRun?: boolean; localOnly?: boolean; workDoneToken?: string }>(raw, { projects: 'string[]?', full: 'boolean?', dryRun: 'boolean?', localOnly: 'boolean?', workDoneToken: 'string?' });
    const changed = new Set<string>();
    let last = 0;
    let lastPhase = '';
    const progress = (pr: Progress): void => {
      const now = Date.now();
      if (now - last < PROGRESS_EVERY_MS && pr.phase === lastPhase) return;
      last = now;
      lastPhase = pr.phase;
      void connection.sendNotification('pwnm/progress', pr);
      if (p.workDoneToken !== undefined) void connection.sendNotification('$/progress', { token: p.workDoneToken, value: { kind: 'report', message: pr.message } });
    };
    if (p.workDoneToken !== undefined) void connection.sendNotification('$/progress', { token: p.workDoneToken, value: { kind: 'begin', title: 'pwnm-sync', cancellable: true } });
    try {
      const summary: SyncSummary = await exclusive((signal) => sync(s, {
        ...(p.projects ? { projects: p.projects } : {}), full: Boolean(p.full), dryRun: Boolean(p.dryRun), localOnly: Boolean(p.localOnly),
        signal, onProgress: progress, onMessage: (e: MessageEvent) => { if (e.kind === 'retagged') changed.add(e.msgid); },
      }), token);
      return summary;
    } finally {
      tagsChanged(changed);
      if (p.workDoneToken !== undefined) void connection.sendNotification('$/progress', { token: p.workDoneToken, value: { kind: 'end' } });
    }
  });

  const cancelSync = (): boolean => {
    running?.abort.abort();
    return Boolean(running);
  };
  handle('cancelSync', () => ({ cancelled: cancelSync() }));
  connection.onNotification('cancelSync', () => void cancelSync());

  /** Push the local state changes of some messages now. */
  async function pushMessages(s: Session, ids: string[]): Promise<{ messageId: string; project?: string; outcome: string; state?: string; reason?: string }[]> {
    const outcomes = new Map<string, { messageId: string; project?: string; outcome: string; state?: string; reason?: string }>();
    const changed = new Set<string>();
    await sync(s, {
      messageIds: ids,
      onMessage: (e) => {
        if (e.kind === 'retagged') {
          changed.add(e.msgid);
          return;
        }
        const key = `${e.msgid} ${e.project}`;
        const earlier = outcomes.get(key);
        // A push that went through over a change on Patchwork stays `pushed`; the conflict is its reason.
        if (e.kind === 'conflict' && earlier?.outcome === 'pushed') {
          if (e.reason) earlier.reason = e.reason;
          return;
        }
        const outcome = { pushed: 'pushed', queued: 'queued', refused: 'refused', ambiguous: 'ambiguous', conflict: 'conflict' }[e.kind];
        outcomes.set(key, { messageId: e.msgid, project: e.project, outcome, ...(e.state ? { state: e.state } : {}), ...(e.reason ? { reason: e.reason } : {}) });
      },
    });
    tagsChanged(changed);
    const results = [...outcomes.values()];
    for (const id of ids.map(notmuchMessageId)) if (!results.some((r) => r.messageId === id)) results.push({ messageId: id, outcome: 'nothing' });
    return results;
  }

  handle('push', async (raw: unknown) => {
    const s = ready();
    const p = params<{ messageIds?: string[]; query?: string }>(raw, { messageIds: 'string[]?', query: 'string?' });
    const ids = p.messageIds ?? (p.query ? [...(await s.notmuch.dump(p.query)).keys()] : undefined);
    if (!ids) throw new ResponseError(RpcCode.InvalidParams, 'give messageIds or query');
    return { results: await pushMessages(s, ids) };
  });

  handle('setState', async (raw: unknown) => {
    const s = ready();
    const p = params<{ messageIds: string[]; state: string; project?: string; series?: boolean }>(raw, { messageIds: 'string[]', state: 'string', project: 'string?', series: 'boolean?' });
    const results = [];
    const changed = new Set<string>();
    for (const id of p.messageIds) {
      for (const r of await setState(s, id, p.state, { ...(p.project ? { project: p.project } : {}), series: Boolean(p.series) })) {
        results.push(r);
        if (r.outcome !== 'unchanged') changed.add(r.msgid);
      }
    }
    tagsChanged(changed);
    return { results };
  });

  handle('delegate', async (raw: unknown) => {
    const s = ready();
    const p = params<{ messageIds: string[]; to?: string | null; project?: string }>(raw, { messageIds: 'string[]', project: 'string?' });
    const to = (raw as { to?: unknown }).to;
    if (to !== undefined && to !== null && typeof to !== 'string') throw new ResponseError(RpcCode.InvalidParams, 'to must be a username, null (no delegate), or left out (you)');
    const results = [];
    for (const id of p.messageIds) results.push(...(await setDelegate(s, id, to as string | null | undefined, p.project ? { project: p.project } : {})));
    tagsChanged(new Set(results.filter((r) => r.outcome === 'delegated').map((r) => r.msgid)));
    return { results };
  });

  handle('acceptFromGit', async (raw: unknown) => {
    const s = ready();
    const p = params<{ repo: string; range: string; project?: string; state?: string; dryRun?: boolean }>(raw, { repo: 'string', range: 'string', project: 'string?', state: 'string?', dryRun: 'boolean?' });
    const { acceptFromGit } = await import('../git/accept.js');
    const result = await acceptFromGit(s, p);
    tagsChanged(new Set(result.matched.filter((m) => m.outcome === 'pushed').map((m) => m.msgid)));
    return result;
  });

  // One apply at a time: two would race for the same work tree.
  let applying: { abort: AbortController; done: Promise<unknown> } | undefined;
  handle('apply', async (raw: unknown, token) => {
    const s = ready();
    const p = params<{ messageId: string; series?: boolean; repo?: string; threeWay?: boolean; state?: string; dryRun?: boolean; project?: string; workDoneToken?: string }>(raw, {
      messageId: 'string', series: 'boolean?', repo: 'string?', threeWay: 'boolean?', state: 'string?', dryRun: 'boolean?', project: 'string?', workDoneToken: 'string?',
    });
    if (applying) throw new PwnmError('GIT', 'an apply is already running in this server; wait for it or cancel it');
    const abort = new AbortController();
    let finished = (): void => undefined;
    applying = { abort, done: new Promise<void>((resolve) => { finished = resolve; }) };
    token.onCancellationRequested(() => abort.abort());
    if (p.workDoneToken !== undefined) void connection.sendNotification('$/progress', { token: p.workDoneToken, value: { kind: 'begin', title: 'pwnm-sync apply', cancellable: true } });
    try {
      const { applyPatches } = await import('../git/apply.js');
      const { messageId, workDoneToken, ...rest } = p;
      const result = await applyPatches(s, {
        messageId, ...rest, signal: abort.signal,
        // Every step goes: a series has a handful of patches, not thousands.
        onProgress: (pr) => {
          const done = pr.phase === 'applied' || pr.phase === 'checked' ? pr.index : pr.index - 1;
          const message = `${pr.phase} ${pr.index}/${pr.total} ${pr.subject}`;
          void connection.sendNotification('pwnm/progress', { phase: 'apply', project: pr.project, done, total: pr.total, message, patch: pr });
          if (workDoneToken !== undefined) void connection.sendNotification('$/progress', { token: workDoneToken, value: { kind: 'report', message, percentage: Math.round((100 * done) / pr.total) } });
        },
      });
      // As a cancelled sync: -32800, with what happened to the repository in the message.
      if (result.outcome === 'cancelled') throw new PwnmError('CANCELLED', result.message, { details: { repo: result.repo, mboxFile: result.mboxFile } });
      tagsChanged(new Set(result.states.filter((r) => r.outcome !== 'unchanged').map((r) => r.msgid)));
      return result;
    } finally {
      applying = undefined;
      finished();
      if (p.workDoneToken !== undefined) void connection.sendNotification('$/progress', { token: p.workDoneToken, value: { kind: 'end' } });
    }
  });

  handle('patchInfo', async (raw: unknown) => {
    const s = ready();
    const p = params<{ messageId: string; refresh?: boolean }>(raw, { messageId: 'string', refresh: 'boolean?' });
    const msgid = notmuchMessageId(p.messageId.replace(/^id:/, ''));
    const rows = p.refresh ? (s.store.patchesByMsgid(msgid).length ? await refresh(s, msgid) : await findPatches(s, msgid)) : s.store.patchesByMsgid(msgid);
    if (rows.length === 0) throw new PwnmError('NOT_FOUND', `no patch with Message-ID ${msgid} is known; sync, or ask with refresh: true`);
    const patches = [];
    for (const r of rows) {
      patches.push({
        instance: r.instance, project: r.project, patchId: r.patch_id, messageId: r.msgid, name: r.name, date: r.date,
        state: r.remote, stateName: stateName(r.remote), tag: s.scheme.state(r.project, r.remote), archived: Boolean(r.archived),
        delegate: r.delegate, check: r.check_state, checks: await checksOf(s, r.instance, r.patch_id),
        series: r.series_id === null ? null : { id: r.series_id, name: r.series_name, version: r.series_version, part: r.series_part, total: r.series_total },
        webUrl: r.web_url, mboxUrl: r.mbox, pending: s.store.pending(r.instance, r.project).filter((x) => x.msgid === r.msgid).map((x) => ({ id: pendingId(x), kind: x.kind, state: x.state, reason: x.reason })),
      });
    }
    return { patches };
  });

  handle('states', (raw: unknown) => {
    const s = ready();
    const p = params<{ project?: string }>(raw, { project: 'string?' });
    return { projects: describe(s, p.project).instances.flatMap((i) => i.projects) };
  });

  handle('counts', async () => ({ projects: await counts(ready()) }));

  handle('pending', () => {
    const s = ready();
    return { items: s.store.pending().map((r) => ({ id: pendingId(r), kind: r.kind, instance: r.instance, project: r.project, messageId: r.msgid, state: r.state, reason: r.reason, attempts: r.attempts, updated: r.updated })) };
  });

  const byIds = (s: Session, ids: string[]): PendingRow[] => s.store.pending().filter((r) => ids.includes(pendingId(r)));
  handle('retry', async (raw: unknown) => {
    const s = ready();
    const p = params<{ ids: string[] }>(raw, { ids: 'string[]' });
    return { results: await pushMessages(s, [...new Set(byIds(s, p.ids).map((r) => r.msgid))]) };
  });
  handle('drop', (raw: unknown) => {
    const s = ready();
    const p = params<{ ids: string[] }>(raw, { ids: 'string[]' });
    const rows = byIds(s, p.ids);
    s.store.transaction(() => rows.forEach((r) => s.store.dropPending(r.instance, r.project, r.msgid, r.kind)));
    return { dropped: rows.length };
  });

  handle('shutdown', async () => {
    shutdown = true;
    cancelSync();
    // An apply stops between two patches and rolls back, as on $/cancelRequest.
    applying?.abort.abort();
    await applying?.done;
    await running?.done.catch(() => undefined);
    await session?.close();
    session = undefined;
    return null;
  });
  connection.onNotification('exit', () => {
    connection.dispose();
    (options.onExit ?? ((code: number) => process.exit(code)))(shutdown ? 0 : 1);
  });

  // A frame we cannot read gets a parse error (id null), and we read on.
  connection.onError(([error]) => {
    log(`bad message: ${error.message}`);
    // Through the connection's own writer, so the frame cannot split another.
    void writer.write({ jsonrpc: '2.0', id: null, error: { code: -32700, message: `Parse error: ${error.message.split('\n')[0]}` } } as ResponseMessage);
  });
  connection.onClose(async () => {
    // The client went away: stop cleanly, keep what was committed.
    cancelSync();
    applying?.abort.abort();
    await applying?.done;
    await running?.done.catch(() => undefined);
    await session?.close();
    session = undefined;
    (options.onExit ?? ((code: number) => process.exit(code)))(0);
  });
  connection.listen();
  return connection;
}

/** The newest result per CI context, or null when Patchwork cannot be asked now. */
async function checksOf(s: Session, instance: string, patchId: number) {
  try {
    const client = await s.client(s.instance(instance));
    const all: PwCheck[] = [];
    await client.eachPage<PwCheck>(`patches/${patchId}/checks`, {}, (items) => void all.push(...items));
    const newest = new Map<string, PwCheck>();
    for (const c of all.sort((a, b) => a.id - b.id)) newest.set(`${c.user?.username ?? ''} ${c.context}`, c);
    return [...newest.values()].map((c) => ({ context: c.context, state: c.state, targetUrl: c.target_url, description: c.description, date: c.date }));
  } catch {
    return null;
  }
}

/** Re-read a message's patches from Patchwork. */
async function refresh(s: Session, msgid: string) {
  for (const row of s.store.patchesByMsgid(msgid)) {
    const client = await s.client(s.instance(row.instance));
    const patch = await client.get<PwPatch>(`patches/${row.patch_id}`);
    s.store.upsertPatches(row.instance, row.project, [toRemote(patch)]);
  }
  return s.store.patchesByMsgid(msgid);
}

/** The configured instances, projects and their known states with tag names. */
function describe(s: Session, only?: string) {
  return {
    tagPrefix: s.config.tagPrefix,
    configFile: s.config.file ?? null,
    instances: s.config.instances.map((inst) => ({
      name: inst.name,
      url: inst.url,
      readOnly: !s.hasToken(inst),
      projects: inst.projects.filter((p) => !only || p.linkName === only).map((p) => ({
        instance: inst.name,
        project: p.linkName,
        tag: s.scheme.project(p.linkName),
        ...(p.repo ? { repo: p.repo } : {}),
        states: s.store.knownStates(inst.name, p.linkName).map((slug) => ({ slug, name: stateName(slug), tag: s.scheme.state(p.linkName, slug) })),
      })),
    })),
  };
}
