import { expect } from 'chai';
import { isMailTag } from '../helpers.js';
import { makeRealEnv, patchMsgids, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// Archiving, unarchiving and deleting make no event on Patchwork: the
// archive check of every incremental sync sees them (full_every is off by
// default), at one request when nothing changed.

describe('real Patchwork: archive check', function () {
  this.timeout(180_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  it('a patch archived, one unarchived and one deleted on the server reach notmuch by the next sync; no change costs 2 requests', async () => {
    t = await makeRealEnv(pw, { patches: 6 });
    // This counts event and archive-check requests: bundles (a token, no me) cost one listing more (issue 27).
    t.writeConfig({ global: 'tag_bundles = off' });
    const ids = patchMsgids(t.mails);
    const idOf = async (msgid: string): Promise<number> => (await t!.patch(msgid)).id;
    const [archived, unarchived, deleted] = [await idOf(ids[0]!), await idOf(ids[1]!), await idOf(ids[2]!)];
    await t.api('PATCH', `patches/${unarchived}/`, 'maint', { archived: true });
    await t.sync();
    await t.sync(); // reads back its own tags
    expect(await t.tags(ids[1]!)).to.include(`pw-${t.link}-archived`);
    expect(await t.stateTags(ids[2]!)).to.deep.equal([`pw-${t.link}-new`]);

    let { p } = await t.sync();
    expect(p.mode).to.equal('events');
    expect(p.httpRequests).to.be.at.most(2); // the events, the archive check

    expect((await t.api('PATCH', `patches/${archived}/`, 'maint', { archived: true })).status).to.equal(200);
    expect((await t.api('PATCH', `patches/${unarchived}/`, 'maint', { archived: false })).status).to.equal(200);
    await pw.admin('delete_patch', { patch: deleted });
    expect((await t.api('GET', `patches/${deleted}/`)).status).to.equal(404);
    ({ p } = await t.sync());
    expect(p.mode).to.equal('events');
    expect(await t.tags(ids[0]!)).to.include(`pw-${t.link}-archived`);
    expect(await t.tags(ids[1]!)).not.to.include(`pw-${t.link}-archived`);
    expect((await t.tags(ids[2]!)).filter((x) => x.startsWith(`pw-${t!.link}-`) && !isMailTag(x))).to.deep.equal([]);
    expect(await t.tags(ids[3]!)).to.include(`pw-${t.link}-new`);

    ({ p } = await t.sync());
    expect(p.httpRequests).to.be.at.most(2);
  });

  it('one archive flip in a 5,000-patch project costs fewer than 5 requests', async () => {
    t = await makeRealEnv(pw, { patches: 10 });
    // This counts event and archive-check requests: bundles (a token, no me) cost one listing more (issue 27).
    t.writeConfig({ global: 'tag_bundles = off' });
    // 4,990 more without mail, 4,800 of them archived: most of a project's history is.
    const { count } = await pw.admin<{ count: number }>('bulk_patches', { project: t.projectId, count: 4990, archived: 4800 });
    expect(count).to.equal(5000);
    const ids = patchMsgids(t.mails);
    let { p } = await t.sync();
    expect(p.fetched).to.equal(5000);
    await t.sync();
    ({ p } = await t.sync());
    expect(p.httpRequests).to.be.at.most(2);

    expect((await t.api('PATCH', `patches/${(await t.patch(ids[4]!)).id}/`, 'maint', { archived: true })).status).to.equal(200);
    ({ p } = await t.sync());
    expect(p.mode).to.equal('events');
    expect(await t.tags(ids[4]!)).to.include(`pw-${t.link}-archived`);
    // The events, the check's count, the one page of the 200 patches not archived, the patch missing from it.
    expect(p.httpRequests).to.be.below(5);
  });
});
