import { expect } from 'chai';
import { makeEnv, msgidOf, patchesOf, runCli, startServe, stopServe, type Served, type TestEnv } from './helpers.js';

// `pwnm-sync bundle ...` as a user runs it, and the bundle requests of
// `pwnm-sync serve`: real processes, the sandbox Patchwork, real notmuch.

describe('bundle command and requests', function () {
  this.timeout(60_000);
  let t: TestEnv;
  let server: Served | undefined;
  afterEach(async () => {
    if (server) await stopServe(server);
    server = undefined;
    await t?.cleanup();
  });
  const cli = (args: string[]) => runCli(['-c', t.configFile, ...args], { env: t.env });
  const bundle = (name: string) => t.sandbox.data.bundles.find((b) => b.name === name);
  const ids = (name: string) => [...(bundle(name)?.patches ?? [])].sort((x, y) => x - y);
  const bundleTags = async (id: number) => (await t.tags(msgidOf(t, id))).filter((x) => x.startsWith('pw-skiboot-bundle'));

  it('adds (creating the bundle, or the whole series), removes, refuses to empty, lists, gives the mbox, deletes', async () => {
    t = await makeEnv({ patches: 12 });
    t.writeConfig('me = maint\n');
    expect((await cli(['sync'])).exitCode).to.equal(0);
    const [a, b] = patchesOf(t);
    let r = await cli(['bundle', 'add', 'review', msgidOf(t, a!), `<${msgidOf(t, b!)}>`]);
    expect(r.exitCode, r.all).to.equal(0);
    expect(r.stdout).to.equal('created bundle review (skiboot): added 2 patches, 2 in all; tag pw-skiboot-bundle-review');
    expect(bundle('review')).to.include({ owner: t.maint.id, public: false });
    expect(ids('review')).to.deep.equal([a!, b!]);
    expect(await bundleTags(a!)).to.deep.equal(['pw-skiboot-bundle', 'pw-skiboot-bundle-review']);
    // --series: every patch of the message's series.
    const seriesOf = (id: number) => t.sandbox.data.patches.get(id)!.series;
    const inSeries = patchesOf(t).filter((id) => seriesOf(id) !== null && seriesOf(id) === seriesOf(patchesOf(t).at(-1)!));
    r = await cli(['bundle', 'add', 'review', '--series', msgidOf(t, inSeries[0]!)]);
    expect(r.exitCode, r.all).to.equal(0);
    const all = [...new Set([a!, b!, ...inSeries])].sort((x, y) => x - y);
    expect(ids('review')).to.deep.equal(all);
    r = await cli(['bundle', 'remove', 'review', msgidOf(t, a!)]);
    expect(r.exitCode, r.all).to.equal(0);
    // a left; every other patch stayed, in the bundle and in its tags.
    const stayed = all.filter((id) => id !== a!);
    expect(ids('review')).to.deep.equal(stayed);
    expect(await bundleTags(a!)).to.deep.equal([]);
    for (const id of stayed) expect(await bundleTags(id), msgidOf(t, id)).to.deep.equal(['pw-skiboot-bundle', 'pw-skiboot-bundle-review']);
    // The whole list out: refused, nothing written.
    const rest = stayed.map((id) => msgidOf(t, id));
    const before = t.sandbox.log.length;
    r = await cli(['bundle', 'remove', 'review', ...rest]);
    expect(r.exitCode).to.equal(2);
    expect(r.stderr).to.equal('pwnm-sync: bundle review would be empty, and Patchwork keeps no empty bundle: delete it with pwnm-sync bundle delete review');
    expect(t.sandbox.log.slice(before).filter((x) => ['POST', 'PATCH', 'PUT', 'DELETE'].includes(x.method))).to.deep.equal([]);
    expect(ids('review')).to.deep.equal(stayed);
    r = await cli(['bundle', 'list', '--json']);
    const listed = (JSON.parse(r.stdout) as { bundles: { name: string; count: number; tag: string }[] }).bundles;
    expect(listed.map((x) => [x.name, x.count, x.tag])).to.deep.equal([['review', rest.length, 'pw-skiboot-bundle-review']]);
    r = await cli(['bundle', 'mbox', 'review']);
    expect(r.stdout).to.equal(`${t.sandbox.url}/bundle/maint/review/mbox/`);
    r = await cli(['bundle', 'mbox', 'review', '--download']);
    expect(r.exitCode, r.all).to.equal(0);
    expect(r.stdout.match(/^From patchwork /gm)).to.have.length(rest.length);
    // A sync after all this has nothing to write or retag.
    const mark = t.sandbox.log.length;
    const synced = JSON.parse((await cli(['sync', '--json'])).stdout) as { ok: boolean; projects: { retagged: number }[] };
    expect(synced.ok).to.equal(true);
    expect(synced.projects[0]!.retagged).to.equal(0);
    expect(t.sandbox.log.slice(mark).filter((x) => x.method !== 'GET')).to.deep.equal([]);
    r = await cli(['bundle', 'delete', 'review']);
    expect(r.exitCode, r.all).to.equal(0);
    expect(bundle('review')).to.equal(undefined);
    expect(await t.notmuch.dump('tag:pw-skiboot-bundle')).to.have.property('size', 0);
  });

  it('never writes someone else\'s bundle of the same name, and says what is missing', async () => {
    t = await makeEnv({ patches: 4 });
    const [a, b] = patchesOf(t);
    const theirs = t.sandbox.data.addBundle({ owner: t.user.id, name: 'review', public: true, patches: [a!] });
    expect((await cli(['sync'])).exitCode).to.equal(0);
    let r = await cli(['bundle', 'add', 'review', msgidOf(t, b!)]);
    expect(r.exitCode).to.equal(2);
    expect(r.stderr).to.equal('pwnm-sync: set me = YOUR-USERNAME in [instance sandbox]: bundles belong to a user');
    t.writeConfig('me = maint\n');
    r = await cli(['bundle', 'add', 'review', msgidOf(t, b!)]);
    expect(r.exitCode, r.all).to.equal(0);
    expect(theirs.patches).to.deep.equal([a!]);
    expect(t.sandbox.data.bundles.filter((x) => x.name === 'review').map((x) => x.owner)).to.deep.equal([t.user.id, t.maint.id]);
  });

  it('read-only: changing a bundle is refused with the reason, nothing is sent', async () => {
    t = await makeEnv({ patches: 2, token: 'none' });
    t.writeConfig('me = maint\n');
    expect((await cli(['sync'])).exitCode).to.equal(0);
    const mark = t.sandbox.log.length;
    const r = await cli(['bundle', 'add', 'x', msgidOf(t, patchesOf(t)[0]!)]);
    expect(r.exitCode).to.equal(2);
    expect(r.stderr).to.equal('pwnm-sync: read-only: no token for sandbox; bundles cannot be changed without one');
    expect(t.sandbox.log.slice(mark).filter((x) => x.method !== 'GET')).to.deep.equal([]);
  });

  it('serve: bundles, bundleAdd, bundleRemove, and patchInfo lists the bundles', async () => {
    t = await makeEnv({ patches: 4 });
    t.writeConfig('me = maint\n');
    const [a, b] = patchesOf(t);
    t.sandbox.data.addBundle({ owner: t.maint.id, name: 'todo', public: false, patches: [a!] });
    server = startServe(t);
    const { conn } = server;
    await conn.sendRequest('initialize', {});
    await conn.sendRequest('sync', {});
    const listed = await conn.sendRequest<{ bundles: { name: string; count: number; mine: boolean }[] }>('bundles', {});
    expect(listed.bundles.map((x) => [x.name, x.count, x.mine])).to.deep.equal([['todo', 1, true]]);
    const added = await conn.sendRequest<{ created: boolean; patches: number; messageIds: string[] }>('bundleAdd', { name: 'todo', messageIds: [msgidOf(t, b!)] });
    expect(added).to.include({ created: false, patches: 2 });
    expect(await bundleTags(b!)).to.deep.equal(['pw-skiboot-bundle', 'pw-skiboot-bundle-todo']);
    const cached = await conn.sendRequest<{ bundles: { name: string; count: number; tag: string }[] }>('bundles', { cached: true });
    expect(cached.bundles.map((x) => [x.name, x.count, x.tag])).to.deep.equal([['todo', 2, 'pw-skiboot-bundle-todo']]);
    const changed = server.notes.filter((n) => n.method === 'pwnm/tagsChanged').map((n) => (n.params as { messageIds: string[] }).messageIds);
    expect(changed).to.deep.include([msgidOf(t, b!)]);
    const info = await conn.sendRequest<{ patches: { bundles: { name: string; tag: string }[] }[] }>('patchInfo', { messageId: msgidOf(t, a!) });
    expect(info.patches[0]!.bundles).to.deep.equal([{ name: 'todo', owner: 'maint', tag: 'pw-skiboot-bundle-todo' }]);
    await conn.sendRequest('bundleRemove', { name: 'todo', messageIds: [msgidOf(t, a!)] });
    expect(t.sandbox.data.bundles[0]!.patches).to.deep.equal([b!]);
    expect(await bundleTags(a!)).to.deep.equal([]);
    // A bundle made by bundleAdd is known at once, before any sync.
    await conn.sendRequest('bundleAdd', { name: 'fresh', messageIds: [msgidOf(t, a!)] });
    const known = await conn.sendRequest<{ bundles: { name: string; count: number }[] }>('bundles', { cached: true });
    expect(known.bundles.map((x) => [x.name, x.count])).to.deep.equal([['todo', 1], ['fresh', 1]]);
    const bad = await conn.sendRequest('bundleAdd', { name: 'todo' }).then(() => undefined, (e: { code: number; message: string }) => e);
    expect(bad).to.include({ code: -32602, message: 'messageIds is required (string[])' });
  });

  it('serve: bundleMbox gives a private bundle\'s mbox with the token, bundleDelete deletes it and its tags', async () => {
    t = await makeEnv({ patches: 4 });
    t.writeConfig('me = maint\n');
    const [a, b, c] = patchesOf(t);
    t.sandbox.data.addBundle({ owner: t.maint.id, name: 'todo', public: false, patches: [b!, a!] });
    server = startServe(t);
    const { conn } = server;
    await conn.sendRequest('initialize', {});
    await conn.sendRequest('sync', {});
    const url = await conn.sendRequest<{ url: string; mbox?: string }>('bundleMbox', { name: 'todo' });
    expect(url).to.deep.equal({ url: `${t.sandbox.url}/bundle/maint/todo/mbox/` });
    const { mbox } = await conn.sendRequest<{ mbox: string }>('bundleMbox', { name: 'todo', download: true });
    // Both patches, in the bundle's order, and no other.
    const ids = [...mbox.matchAll(/^Message-I[dD]: <([^>]+)>/gm)].map((m) => m[1]);
    expect(ids).to.deep.equal([msgidOf(t, b!), msgidOf(t, a!)]);
    expect(t.sandbox.log.filter((l) => l.url.includes('/mbox/')).map((l) => l.auth)).to.deep.equal([true]);
    const mark = t.sandbox.log.length;
    const deleted = await conn.sendRequest<{ patches: number; messageIds: string[] }>('bundleDelete', { name: 'todo' });
    expect(deleted.patches).to.equal(0);
    expect([...deleted.messageIds].sort()).to.deep.equal([msgidOf(t, a!), msgidOf(t, b!)].sort());
    expect(t.sandbox.data.bundles).to.deep.equal([]);
    expect(t.sandbox.log.slice(mark).filter((l) => l.method !== 'GET').map((l) => l.method)).to.deep.equal(['DELETE']);
    for (const p of [a!, b!, c!]) expect(await bundleTags(p)).to.deep.equal([]);
    const gone = await conn.sendRequest('bundleMbox', { name: 'todo' }).then(() => undefined, (e: { code: number; message: string }) => e);
    expect(gone).to.include({ code: -32009 });
  });
});
