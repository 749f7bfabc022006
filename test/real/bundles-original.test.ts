import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { makeRealEnv, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// The original tool's config ([Defaults], a token, no `me`) against the real
// Patchwork 3.1.3: the user is learnt from the authenticated bundle listing
// (a private bundle's owner is the token's user).

interface ApiBundle { id: number; name: string; patches: { id: number }[] }

describe('real Patchwork: bundles with the original [Defaults] config and no me', function () {
  this.timeout(90_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  const original = (env: RealEnv, token: string) =>
    writeFileSync(env.configFile, `[Defaults]\npatchwork_url = ${pw.url}\npatchwork_token = ${token}\nsync = ${env.link}=${env.listEmail}\n`, { mode: 0o600 });

  it('a private bundle made on the server gets its tags after one sync, and a local tag adds a patch to it', async () => {
    t = await makeRealEnv(pw, { patches: 3, seed: 27 });
    original(t, pw.maint.token);
    expect((await t.sync()).exitCode).to.equal(0);
    const ps = (await t.patches()).map((p) => ({ id: p.id, msgid: p.msgid.slice(1, -1) })).sort((x, y) => x.id - y.id);
    const theirs = await t.api<ApiBundle>('POST', 'bundles/', 'plain', { name: `pub ${t.link}`, public: true, patches: [ps[2]!.id] });
    const made = await t.api<ApiBundle>('POST', 'bundles/', 'maint', { name: `ci-batch-${t.link}`, patches: [ps[0]!.id] });
    expect(made.status).to.equal(201);
    const tag = `pw-${t.link}-bundle-ci-batch-${t.link}`;
    const r = await t.sync();
    expect(r.exitCode, JSON.stringify(r.p)).to.equal(0);
    expect((await t.tags(ps[0]!.msgid)).filter((x) => x.includes('-bundle'))).to.deep.equal([`pw-${t.link}-bundle`, tag]);
    await t.retag(ps[1]!.msgid, [tag], []);
    const r2 = await t.sync();
    expect(r2.exitCode, JSON.stringify(r2.p)).to.equal(0);
    expect((await t.api<ApiBundle>('GET', `bundles/${made.body.id}/`)).body.patches.map((p) => p.id)).to.deep.equal([ps[0]!.id, ps[1]!.id]);
    await t.api('DELETE', `bundles/${made.body.id}/`);
    await t.api('DELETE', `bundles/${theirs.body.id}/`, 'plain');
  });
});
