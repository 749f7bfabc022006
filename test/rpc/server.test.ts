import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { CancellationTokenSource, ProgressType } from 'vscode-jsonrpc/node.js';
import { CLI, isMailTag, makeEnv, msgidOf, patchesOf, patchIn, startServe, stopServe, type Served, type TestEnv } from '../helpers.js';

// The real `pwnm-sync serve` process over its pipes, with vscode-jsonrpc's
// client side, the sandbox Patchwork and a real notmuch database.

type Server = Served;
const start = startServe;
const stop = stopServe;

const errorOf = async (p: Promise<unknown>): Promise<{ code: number; message: string; data?: unknown }> => {
  try { await p; } catch (err) { return err as { code: number; message: string }; }
  throw new Error('no error');
};

describe('JSON-RPC server (pwnm-sync serve)', function () {
  this.timeout(60_000);
  let t: TestEnv;
  let server: Server | undefined;
  afterEach(async () => {
    if (server) await stop(server);
    server = undefined;
    if (t) await t.cleanup();
  });

  it('initializes, syncs with progress and tagsChanged notifications, and reports counts and states', async () => {
    t = await makeEnv({ patches: 2000 });
    server = start(t);
    const init = await server.conn.sendRequest<{ serverInfo: { name: string; version: string }; instances: { name: string; readOnly: boolean; projects: { project: string; tag: string; states: { slug: string; tag: string }[] }[] }[] }>('initialize', { clientInfo: { name: 'test' } });
    expect(init.serverInfo.name).to.equal('pwnm-sync');
    expect(init.instances[0]!.name).to.equal('sandbox');
    expect(init.instances[0]!.readOnly).to.equal(false);
    expect(init.instances[0]!.projects[0]!.states.find((s) => s.slug === 'changes-requested')!.tag).to.equal('pw-skiboot-changes-requested');
    const reports: unknown[] = [];
    server.conn.onProgress(new ProgressType<{ kind: string }>(), 'w1', (value) => void reports.push(value));
    const summary = await server.conn.sendRequest<{ projects: { fetched: number; retagged: number }[] }>('sync', { workDoneToken: 'w1' });
    expect(summary.projects[0]).to.include({ fetched: 2000, retagged: 2000 });
    const methods = server.notes.map((n) => n.method);
    expect(methods).to.include('pwnm/progress');
    expect((reports as { kind: string }[]).map((r) => r.kind)).to.include.members(['begin', 'report', 'end']);
    const changed = server.notes.find((n) => n.method === 'pwnm/tagsChanged')!.params as { all: boolean; messageIds: string[] };
    expect(changed.all).to.equal(true);
    const counts = await server.conn.sendRequest<{ projects: { total: number; states: { state: string; count: number }[] }[] }>('counts');
    expect(counts.projects[0]!.total).to.equal(2000);
    const states = await server.conn.sendRequest<{ projects: { states: { slug: string; name: string }[] }[] }>('states', { project: 'skiboot' });
    expect(states.projects[0]!.states[1]).to.deep.equal({ slug: 'under-review', name: 'Under Review', tag: 'pw-skiboot-under-review' });
  });

  it('cancels a sync (cancelSync and $/cancelRequest) and a later sync completes cleanly', async () => {
    t = await makeEnv({ patches: 1500 });
    t.sandbox.delayMs = 300;
    server = start(t);
    await server.conn.sendRequest('initialize', {});
    const first = server.conn.sendRequest('sync');
    await new Promise((r) => setTimeout(r, 500));
    await server.conn.sendNotification('cancelSync');
    expect((await errorOf(first)).code).to.equal(-32800);
    const source = new CancellationTokenSource();
    const second = server.conn.sendRequest('sync', {}, source.token);
    await new Promise((r) => setTimeout(r, 500));
    source.cancel();
    expect((await errorOf(second)).code).to.equal(-32800);
    t.sandbox.delayMs = 0;
    const done = await server.conn.sendRequest<{ projects: { errors: string[]; fetched: number } []}>('sync');
    expect(done.projects[0]!.errors).to.deep.equal([]);
    for (const id of patchesOf(t).slice(0, 50)) expect(await t.tags(msgidOf(t, id))).to.include(`pw-skiboot-${t.sandbox.data.patches.get(id)!.state}`);
    expect(await t.notmuch.count(['tag:patchwork'])).to.deep.equal([1500]);
  });

  it('pushes a changed state tag now, and on a refusal puts the tags back and says so', async () => {
    t = await makeEnv({ patches: 20 });
    server = start(t);
    await server.conn.sendRequest('initialize', {});
    await server.conn.sendRequest('sync');
    const [a, b] = patchesOf(t).filter((i) => t.sandbox.data.patches.get(i)!.state === 'new');
    await t.notmuch.tag([{ msgid: msgidOf(t, a!), add: ['pw-skiboot-accepted'], remove: ['pw-skiboot-new'] }]);
    const pushed = await server.conn.sendRequest<{ results: { outcome: string; state?: string }[] }>('push', { messageIds: [msgidOf(t, a!)] });
    expect(pushed.results).to.deep.equal([{ messageId: msgidOf(t, a!), project: 'skiboot', outcome: 'pushed', state: 'accepted' }]);
    expect(t.sandbox.data.patches.get(a!)!.state).to.equal('accepted');
    const nothing = await server.conn.sendRequest<{ results: { outcome: string }[] }>('push', { query: `id:"${msgidOf(t, a!)}"` });
    expect(nothing.results[0]!.outcome).to.equal('nothing');

    // The same server, now with a token that is not a maintainer's.
    await server.conn.sendRequest('initialize', { tokens: { sandbox: t.user.token } });
    await t.notmuch.tag([{ msgid: msgidOf(t, b!), add: ['pw-skiboot-rejected'], remove: ['pw-skiboot-new'] }]);
    server.notes.length = 0;
    const refused = await server.conn.sendRequest<{ results: { outcome: string; reason: string }[] }>('push', { messageIds: [msgidOf(t, b!)] });
    expect(refused.results[0]).to.include({ outcome: 'refused', reason: 'not a maintainer of skiboot on sandbox' });
    expect((await t.tags(msgidOf(t, b!))).filter((x) => x.startsWith('pw-skiboot-') && !isMailTag(x))).to.deep.equal(['pw-skiboot-new']);
    expect(server.notes.find((n) => n.method === 'pwnm/tagsChanged')!.params).to.deep.equal({ all: false, messageIds: [msgidOf(t, b!)] });
    const pending = await server.conn.sendRequest<{ items: { id: string; kind: string; reason: string }[] }>('pending');
    expect(pending.items.map((i) => i.kind)).to.deep.equal(['refused']);
    const dropped = await server.conn.sendRequest<{ dropped: number }>('drop', { ids: [pending.items[0]!.id] });
    expect(dropped.dropped).to.equal(1);
  });

  it('sets a state in one step and tells patch facts', async () => {
    t = await makeEnv({ patches: 10 });
    server = start(t);
    await server.conn.sendRequest('initialize', {});
    await server.conn.sendRequest('sync');
    const id = patchesOf(t).find((i) => t.sandbox.data.patches.get(i)!.state !== 'changes-requested')!;
    const msgid = msgidOf(t, id);
    const set = await server.conn.sendRequest<{ results: { outcome: string }[] }>('setState', { messageIds: [`<${msgid}>`], state: 'changes-requested' });
    expect(set.results[0]!.outcome).to.equal('pushed');
    expect(t.sandbox.data.patches.get(id)!.state).to.equal('changes-requested');
    const info = await server.conn.sendRequest<{ patches: Record<string, unknown>[] }>('patchInfo', { messageId: msgid });
    expect(info.patches[0]).to.include({ project: 'skiboot', patchId: id, state: 'changes-requested', stateName: 'Changes Requested', archived: false });
    t.sandbox.data.setState(id, 'accepted');
    const fresh = await server.conn.sendRequest<{ patches: Record<string, unknown>[] }>('patchInfo', { messageId: msgid, refresh: true });
    expect(fresh.patches[0]!.state).to.equal('accepted');
  });

  it('retries a queued push', async () => {
    t = await makeEnv({ patches: 10 });
    server = start(t);
    await server.conn.sendRequest('initialize', {});
    await server.conn.sendRequest('sync');
    const id = patchIn(t, 'new');
    await t.notmuch.tag([{ msgid: msgidOf(t, id), add: ['pw-skiboot-rfc'], remove: ['pw-skiboot-new'] }]);
    t.sandbox.faults.push({ method: 'PATCH', times: Infinity, status: 503, body: '{}' });
    const queued = await server.conn.sendRequest<{ results: { outcome: string }[] }>('push', { messageIds: [msgidOf(t, id)] });
    expect(queued.results[0]!.outcome).to.equal('queued');
    t.sandbox.faults = [];
    const pending = await server.conn.sendRequest<{ items: { id: string; kind: string }[] }>('pending');
    const retried = await server.conn.sendRequest<{ results: { outcome: string }[] }>('retry', { ids: pending.items.map((i) => i.id) });
    expect(retried.results[0]!.outcome).to.equal('pushed');
    expect(t.sandbox.data.patches.get(id)!.state).to.equal('rfc');
  });

  it('answers errors with stable codes and keeps serving', async () => {
    t = await makeEnv({ patches: 3 });
    server = start(t);
    expect((await errorOf(server.conn.sendRequest('counts'))).code).to.equal(-32002);
    await server.conn.sendRequest('initialize', {});
    expect((await errorOf(server.conn.sendRequest('frobnicate'))).code).to.equal(-32601);
    const bad = await errorOf(server.conn.sendRequest('setState', { messageIds: 'x', state: 3 }));
    expect(bad).to.include({ code: -32602, message: 'messageIds must be a list of at most 10000 strings' });
    const huge = await errorOf(server.conn.sendRequest('push', { messageIds: Array.from({ length: 20_000 }, (_, i) => `m${i}@x`) }));
    expect(huge.code).to.equal(-32602);
    const unknown = await errorOf(server.conn.sendRequest('patchInfo', { messageId: 'nobody@example.org' }));
    expect(unknown.code).to.equal(-32009);
    const project = await errorOf(server.conn.sendRequest('sync', { projects: ['nope'] }));
    expect(project).to.include({ code: -32602 });
    t.sandbox.delayMs = 200;
    const long = server.conn.sendRequest('sync');
    await new Promise((r) => setTimeout(r, 50));
    expect((await errorOf(server.conn.sendRequest('sync'))).code).to.equal(-32007);
    await long;
    await server.conn.sendRequest('initialize', { tokens: { sandbox: 'wrong-token-123456' } });
    const summary = await server.conn.sendRequest<{ projects: { errors: string[] }[] }>('sync', { full: true });
    expect(summary.projects[0]!.errors[0]).to.match(/rejected the token/);
    expect(server.stderr()).not.to.include('wrong-token-123456');
  });

  it('initialize again with the same config keeps the session and a running sync; a new config waits for the sync', async () => {
    t = await makeEnv({ patches: 300 });
    t.sandbox.delayMs = 100;
    server = start(t);
    const params = { clientInfo: { name: 'test' } };
    await server.conn.sendRequest('initialize', params);
    const running = server.conn.sendRequest<{ projects: { errors: string[]; fetched: number }[] }>('sync');
    await new Promise((r) => setTimeout(r, 300));
    // The same config and tokens: nothing to do, and the sync goes on.
    const again = await server.conn.sendRequest<{ instances: { readOnly: boolean }[] }>('initialize', params);
    expect(again.instances[0]!.readOnly).to.equal(false);
    // Other tokens would need a new session: refused while the sync runs, the store stays open.
    const refused = await errorOf(server.conn.sendRequest('initialize', { ...params, tokens: { sandbox: t.user.token } }));
    expect(refused.code).to.equal(-32007);
    const summary = await running;
    expect(summary.projects[0]!.errors).to.deep.equal([]);
    expect(summary.projects[0]!.fetched).to.equal(300);
    t.sandbox.delayMs = 0;
    // Idle now: the new tokens take effect.
    await server.conn.sendRequest('initialize', { ...params, tokens: { sandbox: t.user.token } });
    const id = patchIn(t, 'new');
    const set = await server.conn.sendRequest<{ results: { outcome: string }[] }>('setState', { messageIds: [msgidOf(t, id)], state: 'accepted' });
    expect(set.results[0]!.outcome).to.equal('refused');
    expect(server.stderr()).not.to.match(/not open|internal error/i);
  });

  it('a new initialize waits for a request in flight before closing the old session', async () => {
    t = await makeEnv({ patches: 3 });
    // A repository whose git log takes a moment: acceptFromGit reads it before it uses the state database.
    const repo = join(t.dir, 'repo');
    const git = (...args: string[]) => execa('git', args, { cwd: repo, env: { ...process.env, GIT_AUTHOR_NAME: 'a', GIT_AUTHOR_EMAIL: 'a@b', GIT_COMMITTER_NAME: 'a', GIT_COMMITTER_EMAIL: 'a@b', GIT_CONFIG_GLOBAL: '/dev/null' } });
    mkdirSync(repo);
    await git('init', '-q', '-b', 'main');
    await git('commit', '-q', '--allow-empty', '-m', 'base');
    await execa('sh', ['-c', 'for i in $(seq 50); do echo $i > f && git add f && git commit -q -m "change $i"; done'], { cwd: repo, env: { ...process.env, GIT_AUTHOR_NAME: 'a', GIT_AUTHOR_EMAIL: 'a@b', GIT_COMMITTER_NAME: 'a', GIT_COMMITTER_EMAIL: 'a@b', GIT_CONFIG_GLOBAL: '/dev/null' } });
    server = start(t);
    await server.conn.sendRequest('initialize', {});
    const accept = server.conn.sendRequest<{ unmatched: unknown[] }>('acceptFromGit', { repo, range: 'main~50..main', dryRun: true });
    const init = server.conn.sendRequest('initialize', { tokens: { sandbox: t.maint.token } });
    expect((await accept).unmatched).to.have.length(50);
    await init;
    expect(server.stderr()).not.to.match(/not open|internal error/i);
  });

  it('setTokens gives a read-only instance a token without a second initialize', async () => {
    t = await makeEnv({ patches: 5, token: 'none', stateMix: false });
    server = start(t);
    const init = await server.conn.sendRequest<{ instances: { readOnly: boolean }[] }>('initialize', {});
    expect(init.instances[0]!.readOnly).to.equal(true);
    await server.conn.sendRequest('sync');
    const given = await server.conn.sendRequest<{ instances: { readOnly: boolean }[] }>('setTokens', { tokens: { sandbox: t.maint.token } });
    expect(given.instances[0]!.readOnly).to.equal(false);
    const id = patchIn(t, 'new');
    const set = await server.conn.sendRequest<{ results: { outcome: string }[] }>('setState', { messageIds: [msgidOf(t, id)], state: 'accepted' });
    expect(set.results[0]!.outcome).to.equal('pushed');
    expect(t.sandbox.data.patches.get(id)!.state).to.equal('accepted');
  });

  /** A synced server over 12 `new` patches; `global` goes into the config's [pwnm-sync] section. */
  async function synced(global = ''): Promise<Server> {
    t = await makeEnv({ patches: 12, stateMix: false });
    t.writeConfig('', global);
    const s = start(t);
    await s.conn.sendRequest('initialize', {});
    await s.conn.sendRequest('sync');
    return s;
  }

  it('counts: the shape docs/protocol.md gives, families included', async () => {
    server = await synced();
    const counts = await server.conn.sendRequest<{ projects: Record<string, unknown>[] }>('counts');
    const c = counts.projects[0]!;
    expect(Object.keys(c).sort()).to.deep.equal(['families', 'instance', 'missingLocally', 'needsMyReview', 'pending', 'project', 'states', 'syncedAt', 'tag', 'total']);
    expect(Number.isNaN(Date.parse(c.syncedAt as string)), 'syncedAt is an ISO time').to.equal(false);
    expect(c).to.include({ instance: 'sandbox', project: 'skiboot', tag: 'pw-skiboot', total: 12, missingLocally: 0, pending: 0 });
    expect((c.states as { state: string; tag: string; count: number }[]).find((x) => x.state === 'new')).to.deep.equal({ state: 'new', tag: 'pw-skiboot-new', count: 12 });
    expect(c.families).to.deep.equal([
      { name: 'check-success', tag: 'pw-skiboot-check-success', count: 0 },
      { name: 'check-warning', tag: 'pw-skiboot-check-warning', count: 0 },
      { name: 'check-fail', tag: 'pw-skiboot-check-fail', count: 0 },
      { name: 'archived', tag: 'pw-skiboot-archived', count: 0 },
      { name: 'delegated', tag: 'pw-skiboot-delegated', count: 0 },
    ]);
    // All 12 are new, none delegated, no reply of mine (README, "needs my review").
    expect(c.needsMyReview).to.deep.equal({ query: 'tag:pw-skiboot and (tag:pw-skiboot-new or tag:pw-skiboot-under-review) and not tag:pw-skiboot-replied', count: 12 });
  });

  it('setState refused: the shape docs/protocol.md gives, and the message keeps Patchwork\'s state', async () => {
    server = await synced();
    const a = patchesOf(t)[0]!;
    t.project.maintainers = [];
    const refused = await server.conn.sendRequest<{ results: unknown[] }>('setState', { messageIds: [msgidOf(t, a)], state: 'accepted' });
    expect(refused.results).to.deep.equal([{ instance: 'sandbox', project: 'skiboot', msgid: msgidOf(t, a), patchId: a, state: 'accepted', outcome: 'refused', reason: 'not a maintainer of skiboot on sandbox' }]);
    expect((await t.tags(msgidOf(t, a))).filter((x) => /^pw-skiboot-[a-z-]+$/.test(x))).to.deep.equal(['pw-skiboot-new']);
  });

  it('push over a change on Patchwork (prefer = local): pushed, with the conflict as its reason, as docs/protocol.md gives', async () => {
    server = await synced('prefer = local');
    const b = patchesOf(t)[1]!;
    t.sandbox.data.setState(b, 'rejected');
    await server.conn.sendRequest('patchInfo', { messageId: msgidOf(t, b), refresh: true });
    await t.notmuch.tag([{ msgid: msgidOf(t, b), add: ['pw-skiboot-accepted'], remove: ['pw-skiboot-new'] }]);
    const pushed = await server.conn.sendRequest<{ results: unknown[] }>('push', { messageIds: [msgidOf(t, b)] });
    expect(pushed.results).to.deep.equal([{ messageId: msgidOf(t, b), project: 'skiboot', outcome: 'pushed', state: 'accepted', reason: 'changed on both sides; pushed the local accepted' }]);
    expect(t.sandbox.data.patches.get(b)!.state).to.equal('accepted');
  });

  it('answers a malformed frame with a parse error and keeps serving', async () => {
    t = await makeEnv({ patches: 3 });
    const child = spawn(process.execPath, [CLI, 'serve', '-c', t.configFile], { env: t.env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const send = (body: string): void => void child.stdin.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    send('this is not json');
    send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }));
    send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'counts' }));
    const until = Date.now() + 20_000;
    while (!out.includes('"id":2') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(out).to.match(/"id":null,"error":\{"code":-32700,"message":"Parse error/);
    expect(out).to.include('"id":1,"result"');
    expect(out).to.match(/"id":2,"result":\{"projects"/);
    // Every byte on stdout is a framed message.
    expect(out.replace(/Content-Length: (\d+)\r\n\r\n/g, '\n').split('\n').filter(Boolean).every((m) => m.startsWith('{'))).to.equal(true);
    child.stdin.end();
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).to.equal(0);
  });

  it('shuts down and exits with no stray process', async () => {
    t = await makeEnv({ patches: 3 });
    const s = start(t);
    await s.conn.sendRequest('initialize', {});
    expect(await s.conn.sendRequest('shutdown')).to.equal(null);
    await s.conn.sendNotification('exit');
    expect(await s.exited).to.equal(0);
    expect(() => process.kill(s.child.pid!, 0)).to.throw();
    s.conn.dispose();
  });
});
