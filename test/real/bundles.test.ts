import { expect } from 'chai';
import { makeRealEnv, type RealEnv, type Who } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// Bundles as tags against the real Patchwork 3.1.3: the scenarios of
// test/sync/bundles.test.ts, each bundle named after the test's own project
// (names are unique per owner on the whole server).

interface ApiBundle { id: number; name: string; public: boolean; owner: { username: string }; patches: { id: number; msgid: string }[] }

describe('real Patchwork: bundles as tags', function () {
  this.timeout(60_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  const configure = (env: RealEnv, who: Who = 'maint', global = '') => env.writeConfig({ who, instance: 'me = maint\n', global });
  const bundleTags = async (env: RealEnv, msgid: string) => (await env.tags(msgid)).filter((x) => x.startsWith(`pw-${env.link}-bundle`));
  async function bundlesOf(env: RealEnv, owner = 'maint'): Promise<ApiBundle[]> {
    return (await env.api<ApiBundle[]>('GET', `bundles/?project=${env.link}&owner=${owner}`)).body;
  }
  async function ready(who: Who = 'maint'): Promise<{ t: RealEnv; ps: { id: number; msgid: string }[] }> {
    t = await makeRealEnv(pw, { patches: 4, seed: 21 });
    configure(t, who);
    expect((await t.sync()).exitCode).to.equal(0);
    const ps = (await t.patches()).map((p) => ({ id: p.id, msgid: p.msgid.slice(1, -1) })).sort((x, y) => x.id - y.id);
    return { t, ps };
  }

  it('a server bundle becomes tags; a local tag adds and removes; a no-change sync costs one request more', async () => {
    const { t, ps } = await ready();
    const name = `review ${t.link}`;
    const made = await t.api<ApiBundle>('POST', 'bundles/', 'maint', { name, patches: [ps[0]!.id] });
    expect(made.status).to.equal(201);
    const tag = `pw-${t.link}-bundle-review_${t.link}`;
    expect((await t.sync()).p.errors).to.deep.equal([]);
    expect(await bundleTags(t, ps[0]!.msgid)).to.deep.equal([`pw-${t.link}-bundle`, tag]);
    await t.retag(ps[1]!.msgid, [tag], []);
    await t.retag(ps[0]!.msgid, [], [tag]);
    const r = await t.sync();
    expect(r.exitCode, JSON.stringify(r.p)).to.equal(0);
    expect((await bundlesOf(t))[0]!.patches.map((p) => p.id)).to.deep.equal([ps[1]!.id]);
    expect(await bundleTags(t, ps[0]!.msgid)).to.deep.equal([]);
    // The request count of a no-change sync, bundles off and on.
    configure(t, 'maint', 'tag_bundles = off\n');
    const off = (await t.sync()).p.httpRequests;
    configure(t);
    const on = (await t.sync()).p.httpRequests;
    expect(on).to.equal(off + 1);
    await t.api('DELETE', `bundles/${made.body.id}/`);
  });

  it('a tag for a new bundle creates it; a hostile name gives a safe tag on its patch only', async () => {
    const { t, ps } = await ready();
    await t.retag(ps[0]!.msgid, [`pw-${t.link}-bundle-new.${t.link}`], []);
    const hostile = `a "q" 50% ünï ${t.link}`;
    await t.api('POST', 'bundles/', 'maint', { name: hostile, patches: [ps[2]!.id] });
    const r = await t.sync();
    expect(r.exitCode, JSON.stringify(r.p)).to.equal(0);
    const mine = await bundlesOf(t);
    expect(mine.map((b) => [b.name, b.public, b.patches.map((p) => p.id)])).to.deep.equal([
      [hostile, false, [ps[2]!.id]],
      [`new.${t.link}`, false, [ps[0]!.id]],
    ]);
    const all = await t.notmuch.dump(`tag:"/^pw-${t.link}-bundle/"`);
    expect(new Map([...all].map(([m, tags]) => [m, tags.filter((x) => x.startsWith(`pw-${t.link}-bundle`)).sort()]))).to.deep.equal(new Map([
      [ps[0]!.msgid, [`pw-${t.link}-bundle`, `pw-${t.link}-bundle-new.${t.link}`]],
      [ps[2]!.msgid, [`pw-${t.link}-bundle`, `pw-${t.link}-bundle-a__q__50___n__${t.link}`]],
    ]));
    for (const b of mine) await t.api('DELETE', `bundles/${b.id}/`);
  });

  it('someone else\'s bundle is never written; read-only writes nothing', async () => {
    const { t, ps } = await ready();
    const theirs = await t.api<ApiBundle>('POST', 'bundles/', 'plain', { name: `theirs ${t.link}`, public: true, patches: [ps[0]!.id] });
    configure(t, 'maint', 'tag_bundles = all\n');
    await t.sync();
    const tag = `pw-${t.link}-bundle-theirs_${t.link}`;
    expect(await bundleTags(t, ps[0]!.msgid)).to.deep.equal([`pw-${t.link}-bundle`, tag]);
    await t.retag(ps[1]!.msgid, [tag], []);
    const r = await t.sync();
    expect(r.p.refused.map((x) => x.msgid), JSON.stringify(r.p.refused)).to.deep.equal([ps[1]!.msgid]);
    expect((await bundlesOf(t, 'plain'))[0]!.patches.map((p) => p.id)).to.deep.equal([ps[0]!.id]);
    expect(await bundleTags(t, ps[1]!.msgid)).to.deep.equal([]);
    // Read-only: a new tag stays, reported, and nothing is created.
    configure(t, 'none');
    await t.retag(ps[3]!.msgid, [`pw-${t.link}-bundle-ro`], []);
    const ro = await t.sync();
    expect(ro.p.queued.map((x) => x.msgid)).to.deep.equal([ps[3]!.msgid]);
    expect(await bundlesOf(t)).to.deep.equal([]);
    await t.api('DELETE', `bundles/${theirs.body.id}/`, 'plain');
  });
});
