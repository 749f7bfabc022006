import { expect } from 'chai';
import { makeRealEnv, patchMsgids, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// Incremental syncs read real Patchwork's event log: state changes,
// checks, delegations and new series (a v2 resend of the same series,
// made by the same generator with versionBump), with supersede both off
// and on.

describe('real Patchwork: events-based incremental sync', function () {
  this.timeout(60_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  async function synced(options: { global?: string; instance?: string } = {}): Promise<{ t: RealEnv; ids: string[] }> {
    t = await makeRealEnv(pw, { patches: 8 });
    t.writeConfig(options);
    expect((await t.sync()).exitCode).to.equal(0);
    return { t, ids: patchMsgids(t.mails) };
  }

  it('does not read the import\'s events again after the first sync', async () => {
    const { t } = await synced();
    const { p } = await t.sync();
    expect(p.mode).to.equal('events');
    expect(p.fetched).to.equal(0);
    expect(p.httpRequests).to.be.at.most(2);
  });

  it('picks up a check posted through the API as a check tag', async () => {
    const { t, ids } = await synced();
    const id = (await t.patch(ids[0]!)).id;
    const post = await t.api('POST', `patches/${id}/checks/`, 'maint', { state: 'fail', context: 'ci-build', target_url: 'https://ci.example.org/1', description: 'build failed' });
    expect(post.status).to.equal(201);
    const { p } = await t.sync();
    expect(p.mode).to.equal('events');
    expect((await t.patch(ids[0]!)).check).to.equal('fail');
    expect(await t.tags(ids[0]!)).to.include(`pw-${t.link}-check-fail`);
  });

  it('follows the combined check as more checks arrive: warning, then success everywhere', async () => {
    const { t, ids } = await synced();
    const id = (await t.patch(ids[1]!)).id;
    await t.api('POST', `patches/${id}/checks/`, 'maint', { state: 'warning', context: 'lint' });
    await t.sync();
    expect((await t.patch(ids[1]!)).check).to.equal('warning');
    expect(await t.tags(ids[1]!)).to.include(`pw-${t.link}-check-warning`);
    await t.api('POST', `patches/${id}/checks/`, 'maint', { state: 'success', context: 'lint' });
    await t.sync();
    const check = (await t.patch(ids[1]!)).check;
    expect(check).to.equal('success');
    const tags = await t.tags(ids[1]!);
    expect(tags).to.include(`pw-${t.link}-check-success`);
    expect(tags).not.to.include(`pw-${t.link}-check-warning`);
  });

  it('shows no check tag for a pending check', async () => {
    const { t, ids } = await synced();
    await t.api('POST', `patches/${(await t.patch(ids[2]!)).id}/checks/`, 'maint', { state: 'pending', context: 'ci' });
    await t.sync();
    expect((await t.patch(ids[2]!)).check).to.equal('pending');
    expect((await t.tags(ids[2]!)).filter((x) => x.includes('-check-'))).to.deep.equal([]);
  });

  it('tags a patch delegated to me, and untags it when the delegation goes', async () => {
    const { t, ids } = await synced({ instance: 'me = maint\n' });
    const id = (await t.patch(ids[3]!)).id;
    expect((await t.api('PATCH', `patches/${id}/`, 'maint', { delegate: pw.maint.id })).status).to.equal(200);
    const { p } = await t.sync();
    expect(p.mode).to.equal('events');
    expect(await t.tags(ids[3]!)).to.include(`pw-${t.link}-delegated`);
    expect((await t.api('PATCH', `patches/${id}/`, 'maint', { delegate: null })).status).to.equal(200);
    await t.sync();
    expect(await t.tags(ids[3]!)).not.to.include(`pw-${t.link}-delegated`);
  });

  it('tags a new series version from its events and leaves v1 alone when supersede is off', async () => {
    const { t, ids } = await synced();
    const v2 = patchMsgids(await t.addMail({ patches: 8, seed: 5, versionBump: 1, newest: new Date(Date.UTC(2026, 10, 2)) }, 'v2'));
    const { p } = await t.sync();
    expect(p.mode).to.equal('events');
    expect(p.fetched).to.equal(8);
    for (const id of v2) expect(await t.stateTags(id), id).to.deep.equal([`pw-${t.link}-new`]);
    for (const id of ids) expect((await t.patch(id)).state).to.equal('new');
  });

  it('supersedes the older version when supersede_older_series is on', async () => {
    const { t, ids } = await synced({ global: 'supersede_older_series = true\n' });
    await t.setState(ids[0]!, 'accepted');
    await t.sync();
    await t.addMail({ patches: 8, seed: 5, versionBump: 1, newest: new Date(Date.UTC(2026, 10, 2)) }, 'v2');
    const { p } = await t.sync();
    expect(p.errors).to.deep.equal([]);
    const server = await t.patches();
    const v1 = server.filter((x) => ids.includes(x.msgid.slice(1, -1)));
    // Every v1 patch is superseded except the accepted one, which stays.
    expect(v1.find((x) => x.msgid === `<${ids[0]!}>`)!.state).to.equal('accepted');
    expect(v1.filter((x) => x.msgid !== `<${ids[0]!}>`).map((x) => x.state)).to.deep.equal(Array(7).fill('superseded'));
    expect(p.pushed).to.equal(7);
    for (const id of ids.slice(1)) expect(await t.stateTags(id), id).to.deep.equal([`pw-${t.link}-superseded`]);
  });
});
