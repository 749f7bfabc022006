import { expect } from 'chai';
import { makeRealEnv, patchMsgids, type RealEnv } from './env.js';
import { needRealPatchwork, type RealPatchwork } from './harness.js';

// The everyday loop against a real Patchwork 3.1.3: first sync, a change
// on either side, and what happens when both sides changed.

describe('real Patchwork: sync basics', function () {
  this.timeout(60_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  it('first sync tags every imported patch with the state Patchwork reports', async () => {
    t = await makeRealEnv(pw, { patches: 8 });
    const ids = patchMsgids(t.mails);
    await t.setState(ids[0]!, 'accepted');
    await t.setState(ids[1]!, 'changes-requested');
    const { exitCode, p } = await t.sync();
    expect(exitCode).to.equal(0);
    expect(p).to.include({ mode: 'full', fetched: 8, retagged: 8 });
    const server = await t.patches();
    expect(server).to.have.length(8);
    for (const patch of server) {
      const id = patch.msgid.slice(1, -1);
      expect(await t.tags(id), id).to.include.members(['patchwork', `pw-${t.link}`, `pw-${t.link}-${patch.state}`]);
    }
    expect(await t.stateTags(ids[0]!)).to.include(`pw-${t.link}-accepted`);
    expect(await t.stateTags(ids[1]!)).to.include(`pw-${t.link}-changes-requested`);
  });
});
