import { ResponseError, type CancellationToken } from 'vscode-jsonrpc/node.js';
import { loadConfig, type ConfigOverrides } from '../config.js';
import { PwnmError } from '../errors.js';
import { counts } from '../ops/counts.js';
import { setDelegate } from '../ops/delegate.js';
import { patchInfo } from '../ops/info.js';
import { dropPending, listPending, pendingRows, retryPending } from '../ops/pending.js';
import { messagesOf, pushMessages } from '../ops/push.js';
import { setState, targetRows, type OnResult } from '../ops/set-state.js';
import { describeSetup, projectStates } from '../ops/states.js';
import { holdSecret } from '../secrets.js';
import type { Session } from '../session.js';
import { sync, type MessageEvent } from '../sync/engine.js';
import { VERSION } from '../version.js';
import { BUNDLE_HANDLERS } from './bundles.js';
import { invalidParams, RpcCode } from './errors.js';
import { params } from './params.js';
import { applyProgress, syncProgress, WorkDone } from './progress.js';
import type { ServerState } from './state.js';

// One short handler per method: check the params, call the domain module,
// shape the result, say which messages' tags changed. Nothing else.

export type Handler = (state: ServerState, raw: unknown, token: CancellationToken, overrides: ConfigOverrides) => unknown;

/** Requests that do not use the session, or replace it. */
export const SESSIONLESS = new Set(['initialize', 'setTokens', 'shutdown', 'cancelSync', 'cancel']);

const serverInfo = (s: Session) => ({ serverInfo: { name: 'pwnm-sync', version: VERSION }, ...describeSetup(s) });
const opt = <K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> => (value === undefined ? {} : ({ [key]: value } as Record<K, V>));

function checkTokens(tokens: Record<string, unknown>): Record<string, string> {
  for (const [k, v] of Object.entries(tokens)) if (typeof v !== 'string') throw new ResponseError(RpcCode.InvalidParams, `tokens.${k} must be a string`);
  return tokens as Record<string, string>;
}

async function initialize(state: ServerState, raw: unknown, _t: CancellationToken, overrides: ConfigOverrides) {
  const p = params<{ configFile?: string; tokens?: Record<string, unknown> }>(raw, { configFile: 'string?', tokens: 'object?', clientInfo: 'object?' });
  const tokens = checkTokens(p.tokens ?? {});
  for (const v of Object.values(tokens)) holdSecret(v);
  const { config, warnings } = loadConfig({ ...overrides, ...opt('configFile', p.configFile) }, state.env);
  for (const w of warnings) state.notify('window/logMessage', { type: 2, message: w });
  const key = JSON.stringify([config, tokens]);
  // The same config and tokens again: keep the session (and any sync it runs).
  if (state.session && key === state.madeFrom) return serverInfo(state.session);
  return serverInfo(await state.reopen(config, tokens, key));
}

function setTokens(state: ServerState, raw: unknown) {
  const s = state.ready();
  const tokens = checkTokens(params<{ tokens: Record<string, unknown> }>(raw, { tokens: 'object' }).tokens);
  s.addTokens(tokens);
  state.tokens = { ...state.tokens, ...tokens };
  state.madeFrom = JSON.stringify([s.config, state.tokens]);
  return serverInfo(s);
}

async function syncRequest(state: ServerState, raw: unknown, token: CancellationToken) {
  const s = state.ready();
  const p = params<{ projects?: string[]; full?: boolean; dryRun?: boolean; localOnly?: boolean; workDoneToken?: string }>(raw, { projects: 'string[]?', full: 'boolean?', dryRun: 'boolean?', localOnly: 'boolean?', workDoneToken: 'string?' });
  const changed = new Set<string>();
  const work = new WorkDone(state, p.workDoneToken);
  work.begin('pwnm-sync');
  try {
    const summary = await state.exclusive((signal) => sync(s, {
      ...opt('projects', p.projects), full: Boolean(p.full), dryRun: Boolean(p.dryRun), localOnly: Boolean(p.localOnly),
      signal, onProgress: syncProgress(state, work), onMessage: (e: MessageEvent) => void (e.kind === 'retagged' && changed.add(e.msgid)),
    }), token);
    // The rules run after the sync proper and retag through set-state, not through onMessage.
    for (const f of summary.rules?.fired ?? []) for (const r of f.results ?? []) changed.add(r.msgid);
    return summary;
  } finally {
    state.tagsChanged(changed);
    work.end();
  }
}

async function push(state: ServerState, raw: unknown) {
  const s = state.ready();
  const p = params<{ messageIds?: string[]; query?: string }>(raw, { messageIds: 'string[]?', query: 'string?' });
  if (!p.messageIds && !p.query) throw new ResponseError(RpcCode.InvalidParams, 'give messageIds or query');
  const report = await pushMessages(s, await messagesOf(s, p));
  // Retagged, or confirmed by Patchwork: either way what a client shows of them is now settled.
  state.tagsChanged([...report.retagged, ...report.results.filter((r) => r.outcome !== 'nothing').map((r) => r.messageId)]);
  return { results: report.results };
}

async function setStateRequest(state: ServerState, raw: unknown) {
  const s = state.ready();
  const p = params<{ messageIds: string[]; state: string; project?: string; series?: boolean; dryRun?: boolean }>(raw, { messageIds: 'string[]', state: 'string', project: 'string?', series: 'boolean?', dryRun: 'boolean?' });
  if (p.dryRun) {
    // What would change, for a client to ask before a change of several patches.
    const patches = [];
    for (const id of p.messageIds) {
      for (const r of await targetRows(s, id, { ...opt('project', p.project), series: Boolean(p.series) })) {
        patches.push({ instance: r.instance, project: r.project, msgid: r.msgid, patchId: r.patch_id, name: r.name, state: r.remote });
      }
    }
    return { patches };
  }
  const results = [];
  // Each patch as Patchwork confirms it: progress, and its tags for clients to show.
  const onResult: OnResult = (r, done, total) => {
    const what = r.outcome === 'pushed' || r.outcome === 'unchanged' ? r.state : `${r.outcome}${r.reason ? ` (${r.reason})` : ''}`;
    state.notify('pwnm/progress', { phase: 'setState', project: r.project, done, total, message: `${done}/${total} ${what}`, result: r });
    if (r.outcome !== 'unchanged') state.tagsChanged([r.msgid]);
  };
  for (const id of p.messageIds) results.push(...(await setState(s, id, p.state, { ...opt('project', p.project), series: Boolean(p.series), onResult })));
  return { results };
}

async function delegate(state: ServerState, raw: unknown) {
  const s = state.ready();
  const p = params<{ messageIds: string[]; project?: string }>(raw, { messageIds: 'string[]', project: 'string?' });
  const to = (raw as { to?: unknown }).to;
  if (to !== undefined && to !== null && typeof to !== 'string') throw new ResponseError(RpcCode.InvalidParams, 'to must be a username, null (no delegate), or left out (you)');
  const results = [];
  for (const id of p.messageIds) results.push(...(await setDelegate(s, id, to as string | null | undefined, opt('project', p.project))));
  state.tagsChanged(results.filter((r) => r.outcome === 'delegated').map((r) => r.msgid));
  return { results };
}

async function acceptFromGitRequest(state: ServerState, raw: unknown) {
  const s = state.ready();
  const p = params<{ repo: string; range: string; project?: string; state?: string; dryRun?: boolean }>(raw, { repo: 'string', range: 'string', project: 'string?', state: 'string?', dryRun: 'boolean?' });
  const { acceptFromGit } = await import('../git/accept.js');
  const result = await acceptFromGit(s, p);
  state.tagsChanged(result.matched.filter((m) => m.outcome === 'pushed').map((m) => m.msgid));
  return result;
}

/** `fill`: fetch the mail of patches not in notmuch, one at a time with syncs (it ends with one). */
async function fillRequest(state: ServerState, raw: unknown, token: CancellationToken) {
  const s = state.ready();
  const p = params<{ projects?: string[]; since?: string; limit?: number; dryRun?: boolean }>(raw, { projects: 'string[]?', since: 'string?', limit: 'number?', dryRun: 'boolean?' });
  const { fill } = await import('../ops/fill.js');
  const result = await state.exclusive((signal) => fill(s, { ...p, signal }), token);
  state.tagsChanged(result.added.map((m) => m.messageId));
  return result;
}

async function thanksRequest(state: ServerState, raw: unknown) {
  const s = state.ready();
  const p = params<{ project?: string; since?: string; branch?: string; repo?: string; repos?: Record<string, string>; state?: string; dryRun?: boolean }>(raw, { project: 'string?', since: 'string?', branch: 'string?', repo: 'string?', repos: 'object?', state: 'string?', dryRun: 'boolean?' });
  if (p.repos && !Object.values(p.repos).every((v) => typeof v === 'string')) throw invalidParams('repos must map each project to a directory (a string)');
  const { thanks } = await import('../mail/thanks.js');
  const result = await thanks(s, p);
  if (!p.dryRun) state.tagsChanged(result.drafts.flatMap((d) => d.patches.map((x) => x.msgid)));
  return result;
}

async function rulesRequest(state: ServerState, raw: unknown, token: CancellationToken) {
  const s = state.ready();
  const p = params<{ since?: string; dryRun?: boolean }>(raw, { since: 'string?', dryRun: 'boolean?' });
  const { runRules } = await import('../mail/rules.js');
  const result = await state.exclusive(() => runRules(s, p), token);
  state.tagsChanged(result.fired.flatMap((f) => (f.results ?? []).map((x) => x.msgid)));
  return result;
}

async function trailersRequest(state: ServerState, raw: unknown, token: CancellationToken) {
  const s = state.ready();
  const p = params<{ dryRun?: boolean; full?: boolean }>(raw, { dryRun: 'boolean?', full: 'boolean?' });
  const { runTrailers } = await import('../mail/trailers.js');
  const result = await state.exclusive(() => runTrailers(s, p), token);
  if (!p.dryRun) state.tagsChanged(result.changes.map((c) => c.msgid));
  return result;
}

type ApplyParams = { messageId?: string; bundle?: string; series?: boolean; deps?: boolean; repo?: string; threeWay?: boolean; state?: string; dryRun?: boolean; project?: string; workDoneToken?: string };

async function apply(state: ServerState, raw: unknown, token: CancellationToken) {
  const s = state.ready();
  const { workDoneToken, ...p } = params<ApplyParams>(raw, {
    messageId: 'string?', bundle: 'string?', series: 'boolean?', deps: 'boolean?', repo: 'string?', threeWay: 'boolean?', state: 'string?', dryRun: 'boolean?', project: 'string?', workDoneToken: 'string?',
  });
  const work = new WorkDone(state, workDoneToken);
  return state.applyOne(async (signal) => {
    work.begin('pwnm-sync apply');
    try {
      const { applyPatches } = await import('../git/apply.js');
      const result = await applyPatches(s, { ...p, signal, onProgress: applyProgress(state, work) });
      // As a cancelled sync: -32800, with what happened to the repository in the message.
      if (result.outcome === 'cancelled') throw new PwnmError('CANCELLED', result.message, { details: { repo: result.repo, mboxFile: result.mboxFile } });
      state.tagsChanged(result.states.filter((r) => r.outcome !== 'unchanged').map((r) => r.msgid));
      return result;
    } finally {
      work.end();
    }
  }, token);
}

async function patchInfoRequest(state: ServerState, raw: unknown) {
  const s = state.ready();
  const p = params<{ messageId: string; refresh?: boolean; checks?: boolean }>(raw, { messageId: 'string', refresh: 'boolean?', checks: 'boolean?' });
  return { patches: await patchInfo(s, p.messageId, { refresh: Boolean(p.refresh), checks: p.checks !== false }) };
}

function idsOf(raw: unknown): string[] {
  return params<{ ids: string[] }>(raw, { ids: 'string[]' }).ids;
}

async function retry(state: ServerState, raw: unknown) {
  const s = state.ready();
  const report = await retryPending(s, pendingRows(s, idsOf(raw)));
  state.tagsChanged(report.retagged);
  return { results: report.results };
}

async function shutdown(state: ServerState) {
  state.shutdown = true;
  await state.stopAll();
  return null;
}

export const HANDLERS: Record<string, Handler> = {
  initialize,
  setTokens,
  sync: syncRequest,
  cancelSync: (state) => ({ cancelled: state.cancelSync() }),
  cancel: (state, raw) => ({ cancelled: state.cancel(params<{ token: string }>(raw, { token: 'string' }).token) }),
  push,
  setState: setStateRequest,
  delegate,
  acceptFromGit: acceptFromGitRequest,
  apply,
  fill: fillRequest,
  thanks: thanksRequest,
  rules: rulesRequest,
  trailers: trailersRequest,
  patchInfo: patchInfoRequest,
  states: (state, raw) => ({ projects: projectStates(state.ready(), params<{ project?: string }>(raw, { project: 'string?' }).project) }),
  counts: async (state) => ({ projects: await counts(state.ready()) }),
  pending: (state) => ({ items: listPending(state.ready()) }),
  retry,
  drop: (state, raw) => ({ dropped: dropPending(state.ready(), pendingRows(state.ready(), idsOf(raw))) }),
  ...BUNDLE_HANDLERS,
  shutdown,
};
