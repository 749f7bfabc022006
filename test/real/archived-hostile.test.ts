import { expect } from 'chai';
import { idQuery } from '../../server/notmuch/encoding.js';
import { isMailTag } from '../helpers.js';
import { makeRealEnv, patchMsgids, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// Archiving both ways (it makes no event on Patchwork: seen by a full
// sync), and Message-IDs that try to be syntax, as Patchwork's parser
// stores them and notmuch indexes them.

/** Hostile Message-IDs and the id notmuch indexes each under (from notmuch's rules, as in test/sync/hostile.test.ts). */
const HOSTILE_IDS = [
  ['quo"te@x', 'quo"te@x'],
  ['sp ace@x', 'space@x'],
  ['par(en)thesis@x', 'par(en)thesis@x'],
  ['pct%41%20@x', 'pct%41%20@x'],
  ['a) or (tag:inbox@x', 'a)or(tag:inbox@x'],
  ['-- +inbox *@x', '--+inbox*@x'],
  [`${'long'.repeat(60)}@x`, 'notmuch-sha1-8e588b1307286485b145fa1e9ae804dcb898e662'],
] as const;

describe('real Patchwork: archived and hostile Message-IDs', function () {
  this.timeout(60_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  it('tags a patch archived on the server at the next full sync, and untags it when unarchived', async () => {
    t = await makeRealEnv(pw, { patches: 5 });
    const ids = patchMsgids(t.mails);
    await t.sync();
    const id = (await t.patch(ids[0]!)).id;
    expect((await t.api('PATCH', `patches/${id}/`, 'maint', { archived: true })).status).to.equal(200);
    const { p } = await t.sync(['--full']);
    expect(p.mode).to.equal('full');
    expect(await t.tags(ids[0]!)).to.include(`pw-${t.link}-archived`);
    expect(await t.tags(ids[1]!)).not.to.include(`pw-${t.link}-archived`);
    await t.api('PATCH', `patches/${id}/`, 'maint', { archived: false });
    await t.sync(['--full']);
    expect(await t.tags(ids[0]!)).not.to.include(`pw-${t.link}-archived`);
  });

  it('archives a patch on the server when its mail is tagged archived, and unarchives when the tag goes', async () => {
    t = await makeRealEnv(pw, { patches: 5 });
    const ids = patchMsgids(t.mails);
    await t.sync();
    await t.retag(ids[2]!, [`pw-${t.link}-archived`], []);
    const { p } = await t.sync();
    expect(p.pushed).to.equal(1);
    expect((await t.patch(ids[2]!)).archived).to.equal(true);
    expect((await t.patch(ids[2]!)).state).to.equal('new');
    await t.retag(ids[2]!, [], [`pw-${t.link}-archived`]);
    await t.sync();
    expect((await t.patch(ids[2]!)).archived).to.equal(false);
  });

  it('syncs a patch archived on the server before the first sync, state and archived tag', async () => {
    t = await makeRealEnv(pw, { patches: 4 });
    const ids = patchMsgids(t.mails);
    await t.api('PATCH', `patches/${(await t.patch(ids[1]!)).id}/`, 'maint', { archived: true, state: 'accepted' });
    const { p } = await t.sync();
    expect(p.fetched).to.equal(4);
    expect(await t.tags(ids[1]!)).to.include.members([`pw-${t.link}-accepted`, `pw-${t.link}-archived`]);
  });

  it('tags exactly the right message for hostile Message-IDs, both ways', async () => {
    t = await makeRealEnv(pw, { patches: HOSTILE_IDS.length + 2, msgids: HOSTILE_IDS.map(([pwId]) => pwId) });
    const server = await t.patches();
    for (const [pwId] of HOSTILE_IDS) expect(server.map((x) => x.msgid), pwId).to.include(`<${pwId}>`);
    for (const [i, [pwId]] of HOSTILE_IDS.entries()) if (i % 2) await t.setState(pwId, 'accepted');
    const { p } = await t.sync();
    expect(p.errors).to.deep.equal([]);
    expect(p.missingLocally).to.equal(0);
    for (const [i, [, nm]] of HOSTILE_IDS.entries()) {
      const tags = ((await t.notmuch.dump(idQuery(nm))).get(nm) ?? []).filter((x) => x.startsWith(`pw-${t!.link}-`) && !isMailTag(x));
      expect(tags, nm).to.deep.equal([`pw-${t.link}-${i % 2 ? 'accepted' : 'new'}`]);
    }
    expect(await t.notmuch.count(['tag:patchwork'])).to.deep.equal([HOSTILE_IDS.length + 2]);
    // A local change to each goes back to the right patch.
    for (const [i, [, nm]] of HOSTILE_IDS.entries()) {
      await t.notmuch.tag([{ msgid: nm, add: [`pw-${t.link}-rfc`], remove: [`pw-${t.link}-${i % 2 ? 'accepted' : 'new'}`] }]);
    }
    expect((await t.sync()).p.pushed).to.equal(HOSTILE_IDS.length);
    for (const [pwId] of HOSTILE_IDS) expect((await t.patch(pwId)).state, pwId).to.equal('rfc');
  });

  it('reports a raw non-ASCII Message-ID, which Patchwork\'s parser stores with U+FFFD, as not in notmuch and tags nothing for it', async () => {
    t = await makeRealEnv(pw, { patches: 3, msgids: ['non-ascii-é€@x'] });
    const server = await t.patches();
    expect(server.map((x) => x.msgid)).to.include('<non-ascii-\ufffd\ufffd\ufffd\ufffd\ufffd@x>');
    const { p } = await t.sync();
    expect(p.errors).to.deep.equal([]);
    expect(p.missingLocally).to.equal(1);
    expect(await t.notmuch.count(['tag:patchwork', 'id:"non-ascii-é€@x" and tag:patchwork'])).to.deep.equal([2, 0]);
  });
});
