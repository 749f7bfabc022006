import { expect } from 'chai';
import { jsonrpcVersions, runErt, skipIfMissing } from '../helpers.js';
import { makeRealEnv, patchMsgids, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// Emacs (batch, ERT, the real notmuch-emacs) -> our `serve` -> the real
// Patchwork 3.1.3: test/emacs/pwnm-sync-real-tests.el.

describe('real Patchwork: Emacs', function () {
  this.timeout(300_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  for (const jsonrpc of jsonrpcVersions()) it(`passes the ERT suite (sync, hello counts, Y a in show) through our server (${jsonrpc.label})`, async function () {
    skipIfMissing(this, jsonrpc);
    t = await makeRealEnv(pw, { patches: 10 });
    const ids = patchMsgids(t.mails);
    await t.setState(ids[0]!, 'under-review');
    await t.setState(ids[1]!, 'changes-requested');
    await t.setState(ids[2]!, 'changes-requested');
    const env = {
      ...t.env, PWNM_TEST_CONFIG: t.configFile, PWNM_REAL_URL: pw.url, PWNM_REAL_PROJECT: t.link, PWNM_REAL_PROJECT_ID: String(t.projectId),
    };
    const r = await runErt('test/emacs/pwnm-sync-real-tests.el', env, jsonrpc.dir);
    expect(r.exitCode, r.all.slice(-6000)).to.equal(0);
    expect(r.all).to.match(/Ran 4 tests, 4 results as expected, 0 unexpected/);
    // Y a accepted exactly one patch on Patchwork.
    expect((await t.patches()).filter((p) => p.state === 'accepted')).to.have.length(1);
  });
});
