import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
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

  it('two bundles whose names give one tag: reported, only the first is tagged, a local change writes only the first', async () => {
    const { t, ps } = await ready();
    const first = await t.api<ApiBundle>('POST', 'bundles/', 'maint', { name: `to test ${t.link}`, patches: [ps[0]!.id] });
    const second = await t.api<ApiBundle>('POST', 'bundles/', 'maint', { name: `to_test ${t.link}`, patches: [ps[1]!.id] });
    expect([first.status, second.status]).to.deep.equal([201, 201]);
    const tag = `pw-${t.link}-bundle-to_test_${t.link}`;
    const r = await t.sync();
    expect(r.p.notes).to.deep.equal([`bundles "to test ${t.link}" and "to_test ${t.link}" both give the tag ${tag}; only bundle ${first.body.id} is tagged`]);
    expect(await bundleTags(t, ps[0]!.msgid)).to.deep.equal([`pw-${t.link}-bundle`, tag]);
    expect(await bundleTags(t, ps[1]!.msgid)).to.deep.equal([]);
    await t.retag(ps[2]!.msgid, [tag], []);
    const r2 = await t.sync();
    expect(r2.exitCode, JSON.stringify(r2.p)).to.equal(0);
    const byId = new Map((await bundlesOf(t)).map((b) => [b.id, b.patches.map((p) => p.id)]));
    expect(byId.get(first.body.id)).to.deep.equal([ps[0]!.id, ps[2]!.id]);
    expect(byId.get(second.body.id)).to.deep.equal([ps[1]!.id]);
    expect(await bundleTags(t, ps[1]!.msgid)).to.deep.equal([]);
    for (const b of [first, second]) await t.api('DELETE', `bundles/${b.body.id}/`);
  });

  it('a new bundle Patchwork refuses names instance and project; unsafe names, dry runs and an unknown me send nothing', async () => {
    const { t, ps } = await ready();
    const long = `n${t.link}`.padEnd(51, 'n');
    await t.retag(ps[0]!.msgid, [`pw-${t.link}-bundle-${long}`], []);
    await t.retag(ps[1]!.msgid, [`pw-${t.link}-bundle-to:do`], []);
    const r = await t.sync();
    const refused = new Map(r.p.refused.map((x) => [x.msgid, x.reason]));
    // Patchwork's own words for a name over its CharField(max_length=50).
    expect(refused.get(ps[0]!.msgid)).to.equal(`real refused to create bundle ${long} in ${t.link}: POST /api/${pw.api}/bundles/ was refused: name: Ensure this field has no more than 50 characters.`);
    expect(refused.get(ps[1]!.msgid)).to.equal(`pw-${t.link}-bundle-to:do names no bundle, and a new bundle's name in a tag may hold only letters, digits, . _ + -`);
    expect(await bundlesOf(t)).to.deep.equal([]);
    expect(await t.tags(ps[0]!.msgid)).to.include(`pw-${t.link}-bundle-${long}`);
    // A dry run creates nothing.
    await t.retag(ps[2]!.msgid, [`pw-${t.link}-bundle-later`], []);
    const dry = await t.sync(['--dry-run']);
    expect(dry.p.queued.filter((x) => x.msgid === ps[2]!.msgid).map((x) => x.reason)).to.deep.equal(['dry run: not created']);
    expect(await bundlesOf(t)).to.deep.equal([]);
    // tag_bundles = all without me, and no private bundle of plain's to learn it from: the tag waits.
    t.writeConfig({ who: 'plain', global: 'tag_bundles = all\n' });
    const theirs = await t.api<ApiBundle>('POST', 'bundles/', 'maint', { name: `shown ${t.link}`, public: true, patches: [ps[3]!.id] });
    const all = await t.sync();
    expect(all.p.queued.filter((x) => x.msgid === ps[2]!.msgid).map((x) => x.reason)).to.deep.equal([
      'bundle tags off for real: set me = USERNAME in [instance real] (or [Defaults]), or make one private bundle on Patchwork']);
    expect(await bundlesOf(t, 'plain')).to.deep.equal([]);
    await t.api('DELETE', `bundles/${theirs.body.id}/`);
  });

  it('a bundle Patchwork moves to another project (a write with its patches): its tags follow it', async () => {
    const { t, ps } = await ready();
    // Project b<link> gets the same mails (cross-posted): the same message-ids, its own patches.
    const other = `b${t.link}`;
    await pw.admin('project', { linkname: other, listid: `${other}.lists.example.org`, listemail: `${other}@lists.example.org`, maintainers: ['maint'] });
    await pw.admin('import', { files: t.mails.filter((m) => m.text.includes('\ndiff --git ')).map((m) => m.file), listid: `${other}.lists.example.org` });
    writeFileSync(t.configFile, readFileSync(t.configFile, 'utf8').replace(/^sync = (.*)$/m, `sync = $1, ${other}`).replace('[instance real]', '[instance real]\nme = maint'));
    const made = await t.api<ApiBundle>('POST', 'bundles/', 'maint', { name: `trip ${t.link}`, patches: [ps[0]!.id] });
    expect((await t.sync()).exitCode).to.equal(0);
    const word = `trip_${t.link}`;
    expect((await t.tags(ps[0]!.msgid)).filter((x) => x.includes('-bundle'))).to.deep.equal([`pw-${t.link}-bundle`, `pw-${t.link}-bundle-${word}`]);
    const theirs = (await t.api<{ id: number; msgid: string }[]>('GET', `patches/?project=${other}&msgid=${encodeURIComponent(ps[0]!.msgid)}`)).body[0]!;
    const moved = await t.api<{ project: { link_name: string } }>('PATCH', `bundles/${made.body.id}/`, 'maint', { patches: [theirs.id] });
    expect(moved.body.project.link_name).to.equal(other);
    const r = await t.cli(['sync', '--json']);
    expect(r.exitCode, r.stdout).to.equal(0);
    expect((await t.tags(ps[0]!.msgid)).filter((x) => x.includes('-bundle'))).to.deep.equal([`pw-${other}-bundle`, `pw-${other}-bundle-${word}`]);
    expect((await t.api<ApiBundle>('GET', `bundles/${made.body.id}/`)).body.patches.map((p) => p.id)).to.deep.equal([theirs.id]);
    await t.api('DELETE', `bundles/${made.body.id}/`);
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
