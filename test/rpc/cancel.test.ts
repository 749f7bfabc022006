import { expect } from 'chai';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CancellationTokenSource } from 'vscode-jsonrpc/node.js';
import { makeEnv, msgidOf, patchesOf, startServe, stopServe, type Served, type TestEnv } from '../helpers.js';

// Every method that asks Patchwork stops when the client cancels it, by
// $/cancelRequest or by `cancel` with the request's cancelToken: the
// sandbox sees the HTTP request abandoned long before its delay ends.
// Here each such method but three: apply's cancel is in
// test/git/apply.test.ts, acceptFromGit's and retry's in the ERT test
// n-never-waits (Emacs cancels them).

const errorOf = async (p: Promise<unknown>): Promise<{ code: number; message: string }> => {
  try { await p; } catch (err) { return err as { code: number; message: string }; }
  throw new Error('no error');
};

const until = async (what: () => boolean, ms = 10_000, label = ''): Promise<void> => {
  const end = Date.now() + ms;
  while (!what() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  expect(what(), `${label} condition not met in time`).to.equal(true);
};

describe('JSON-RPC server: cancellation, tag names, series progress', function () {
  this.timeout(60_000);
  let t: TestEnv;
  let server: Served | undefined;
  afterEach(async () => {
    if (server) await stopServe(server);
    server = undefined;
    if (t) await t.cleanup();
  });

  it('cancel with a cancelToken and $/cancelRequest abort the Patchwork request and answer -32800', async () => {
    t = await makeEnv({ patches: 3, stateMix: false });
    server = startServe(t);
    await server.conn.sendRequest('initialize', {});
    await server.conn.sendRequest('sync');
    const msgid = msgidOf(t, patchesOf(t)[0]!);
    t.sandbox.delayMs = 20_000;
    const sandbox = t.sandbox;
    // By token: patchInfo with refresh waits on Patchwork.
    const info = server.conn.sendRequest('patchInfo', { messageId: msgid, refresh: true, cancelToken: 'emacs-1' });
    await until(() => sandbox.delaying > 0);
    expect(await server.conn.sendRequest('cancel', { token: 'emacs-1' })).to.deep.equal({ cancelled: true });
    expect((await errorOf(info)).code).to.equal(-32800);
    await until(() => sandbox.delaying === 0 && sandbox.abandoned === 1, 5000);
    // By $/cancelRequest: a series setState.
    const source = new CancellationTokenSource();
    const set = server.conn.sendRequest('setState', { messageIds: [msgid], state: 'accepted', series: true }, source.token);
    await until(() => sandbox.delaying > 0);
    source.cancel();
    expect((await errorOf(set)).code).to.equal(-32800);
    await until(() => sandbox.delaying === 0 && sandbox.abandoned >= 2, 5000);
    // Nothing runs under that token any more; Patchwork's state did not change.
    expect(await server.conn.sendRequest('cancel', { token: 'emacs-1' })).to.deep.equal({ cancelled: false });
    expect(t.sandbox.data.patches.get(patchesOf(t)[0]!)!.state).to.equal('new');
  });

  it('cancels each method that asks Patchwork (docs/protocol.md), by cancelToken, while Patchwork is slow', async () => {
    t = await makeEnv({ patches: 6, stateMix: false });
    // thanks needs a repository whose public branch it can read.
    const repo = join(t.dir, 'thanks-repo');
    const git = (...args: string[]) => execa('git', ['-C', repo, '-c', 'user.name=T', '-c', 'user.email=t@example.org', ...args]);
    await execa('git', ['init', '-q', '-b', 'main', repo]);
    await git('commit', '-q', '--allow-empty', '-m', 'base');
    await execa('git', ['init', '-q', '--bare', join(t.dir, 'origin.git')]);
    await git('remote', 'add', 'origin', join(t.dir, 'origin.git'));
    await git('push', '-q', 'origin', 'main');
    await git('fetch', '-q', 'origin');
    t.writeConfig(`me = maint\n\n[project skiboot]\nbranch = origin/main\nrepo = ${repo}\n`);
    const [a, b, c, d, e, f] = patchesOf(t);
    t.sandbox.data.addBundle({ owner: t.maint.id, name: 'todo', public: false, patches: [a!, b!] });
    // A patch whose mail is not in notmuch, for fill to fetch.
    t.sandbox.data.addPatch({ project: t.project.id, msgid: '<not-here@example.org>', name: 'not here', submitter: t.sandbox.data.addPerson('Bob', 'bob@example.com').id }, true);
    server = startServe(t);
    const { conn } = server;
    await conn.sendRequest('initialize', {});
    await conn.sendRequest('sync');
    // thanks used once, then a patch accepted with its commit: thanks asks Patchwork for it.
    await conn.sendRequest('thanks', {});
    t.sandbox.data.setState(e!, 'accepted');
    t.sandbox.data.patches.get(e!)!.commit_ref = (await git('rev-parse', 'HEAD')).stdout;
    await conn.sendRequest('sync');
    // My pw-bot reply, after rules first ran: rules sets f's series state on Patchwork.
    writeFileSync(join(t.maildir, 'cur', 'mine:2,S'), `From: Test <test@example.org>\nTo: skiboot@lists.ozlabs.org\nSubject: Re: a patch\nDate: ${new Date().toUTCString().replace('GMT', '+0000')}\nMessage-ID: <mine.${Date.now()}@example.org>\nIn-Reply-To: <${msgidOf(t, f!)}>\nReferences: <${msgidOf(t, f!)}>\n\npw-bot: cr\n`);
    await execa('notmuch', ['new', '--quiet'], { env: t.env });
    // A local change for push to send.
    await t.notmuch.tag([{ msgid: msgidOf(t, c!), add: ['pw-skiboot-under-review'], remove: ['pw-skiboot-new'] }]);
    const cases: [string, Record<string, unknown>][] = [
      ['sync', { full: true }],
      ['push', { messageIds: [msgidOf(t, c!)] }],
      ['setState', { messageIds: [msgidOf(t, d!)], state: 'accepted' }],
      ['delegate', { messageIds: [msgidOf(t, d!)] }],
      ['patchInfo', { messageId: msgidOf(t, a!), refresh: true }],
      ['fill', { projects: ['skiboot'] }],
      ['bundles', { project: 'skiboot' }],
      ['bundleAdd', { name: 'todo', messageIds: [msgidOf(t, c!)] }],
      ['bundleRemove', { name: 'todo', messageIds: [msgidOf(t, a!)] }],
      ['bundleMbox', { name: 'todo', download: true }],
      ['bundleDelete', { name: 'todo' }],
      ['thanks', {}],
      ['rules', {}],
    ];
    const sandbox = t.sandbox;
    sandbox.delayMs = 20_000;
    for (const [method, params] of cases) {
      const abandoned = sandbox.abandoned;
      const started = Date.now();
      const answer = conn.sendRequest(method, { ...params, cancelToken: `cancel-${method}` });
      await until(() => sandbox.delaying > 0, 10_000, method);
      expect(await conn.sendRequest('cancel', { token: `cancel-${method}` }), method).to.deep.equal({ cancelled: true });
      expect((await errorOf(answer)).code, method).to.equal(-32800);
      await until(() => sandbox.delaying === 0 && sandbox.abandoned > abandoned, 5000, method);
      expect(Date.now() - started, method).to.be.below(15_000);
    }
    sandbox.delayMs = 0;
    // Nothing was written: the states, the delegate and the bundle (not deleted either) are as they were.
    expect([c!, d!, f!].map((id) => [t.sandbox.data.patches.get(id)!.state, t.sandbox.data.patches.get(id)!.delegate])).to.deep.equal([['new', null], ['new', null], ['new', null]]);
    expect((await execa('notmuch', ['count', 'tag:draft'], { env: t.env })).stdout).to.equal('0');
    expect(t.sandbox.data.bundles[0]!.patches).to.deep.equal([a!, b!]);
  });

  it('names every tag family per project, and reports a series change patch by patch', async () => {
    t = await makeEnv({ patches: 6, stateMix: false });
    server = startServe(t);
    const init = await server.conn.sendRequest<{ instances: { projects: { tags: unknown }[] }[] }>('initialize', {});
    expect(init.instances[0]!.projects[0]!.tags).to.deep.equal({
      archived: 'pw-skiboot-archived', delegated: 'pw-skiboot-delegated', delegatePrefix: 'pw-skiboot-delegate-',
      checks: { pending: 'pw-skiboot-check-pending', success: 'pw-skiboot-check-success', warning: 'pw-skiboot-check-warning', fail: 'pw-skiboot-check-fail' },
    });
    await server.conn.sendRequest('sync');
    const data = t.sandbox.data;
    const first = [...data.patches.values()].find((p) => p.series !== null && [...data.patches.values()].filter((q) => q.series === p.series).length > 1)!;
    const series = [...data.patches.values()].filter((q) => q.series === first.series);
    server.notes.length = 0;
    await server.conn.sendRequest('setState', { messageIds: [first.msgid.slice(1, -1)], state: 'accepted', series: true });
    const progress = server.notes.filter((n) => n.method === 'pwnm/progress').map((n) => (n.params as { message: string }).message);
    expect(progress).to.deep.equal(series.map((_, i) => `${i + 1}/${series.length} accepted`));
    // One tagsChanged per patch, as each is confirmed.
    const changed = server.notes.filter((n) => n.method === 'pwnm/tagsChanged').map((n) => (n.params as { messageIds: string[] }).messageIds);
    expect(changed.map((ids) => ids.length)).to.deep.equal(series.map(() => 1));
    expect(changed.flat().sort()).to.deep.equal(series.map((p) => p.msgid.slice(1, -1)).sort());
  });
});
