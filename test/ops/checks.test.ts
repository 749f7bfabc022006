import { expect } from 'chai';
import { patchInfo } from '../../server/ops/info.js';
import { sync } from '../../server/sync/engine.js';
import { makeEnv, msgidOf, patchesOf, type TestEnv } from '../helpers.js';

// The CI results by context that the state database keeps from
// check-created events (server/store/checks.ts), so that the facts line in
// Emacs (patchInfo with checks: false) names the failing contexts with no
// request. Patchwork's rule: per user and context, the newest check counts.

describe('stored CI contexts', function () {
  this.timeout(60_000);
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));

  it('keeps the newest result per CI user and context from the events, and answers them with no request', async () => {
    t = await makeEnv({ patches: 3, stateMix: false });
    t.writeConfig('', 'tag_bundles = off');
    const s = t.session();
    try {
      await sync(s);
      const [id, other] = patchesOf(t);
      const msgid = msgidOf(t, id!);
      const data = t.sandbox.data;
      const ci = data.addUser({ username: 'ci-bot' });
      const contexts = async () => (await patchInfo(s, msgid, { checks: false }))[0]!.checks?.map((c) => `${c.context}=${c.state}`) ?? null;
      // Nothing known before any check-created event.
      expect(await contexts()).to.equal(null);
      data.addCheck(id!, ci.id, { state: 'fail', context: 'build_clang' });
      data.addCheck(id!, ci.id, { state: 'success', context: 'checkpatch' });
      data.addCheck(id!, t.maint.id, { state: 'warning', context: 'build_clang' });
      data.addCheck(other!, ci.id, { state: 'fail', context: 'unit' });
      await sync(s);
      // Two users' build_clang are two results, as Patchwork counts them.
      expect(await contexts()).to.deep.equal(['build_clang=fail', 'build_clang=warning', 'checkpatch=success']);
      // A newer build_clang of ci-bot's replaces its older one.
      data.addCheck(id!, ci.id, { state: 'success', context: 'build_clang' });
      await sync(s);
      expect(await contexts()).to.deep.equal(['build_clang=success', 'build_clang=warning', 'checkpatch=success']);
      const mark = t.sandbox.log.length;
      await patchInfo(s, msgid, { checks: false });
      expect(t.sandbox.log.slice(mark)).to.deep.equal([]);
      // Reading the checks from Patchwork (Y i) replaces what is stored with all of them.
      const read = (await patchInfo(s, msgid))[0]!.checks!.map((c) => `${c.context}=${c.state}`);
      expect(read.sort()).to.deep.equal(['build_clang=success', 'build_clang=warning', 'checkpatch=success']);
      expect(await contexts()).to.deep.equal(read);
    } finally {
      await s.close();
    }
  });
});
