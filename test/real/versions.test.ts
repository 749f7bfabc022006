import { expect } from 'chai';
import { webUrlTarget } from '../../server/patchwork/dependencies.js';
import { makeRealEnv, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// What differs between the real Patchwork versions, as pwnm-sync meets it:
// the API version it finds (main serves 1.4), and a message-id with a
// slash, which every version (3.1.3 too) writes as %2F in its URLs, and
// Django's reverse() quotes once more, to %252F.

describe('real Patchwork: version differences', function () {
  this.timeout(90_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  it('finds the newest API the server serves', async () => {
    t = await makeRealEnv(pw, { patches: 1 });
    const r = await t.cli(['doctor']);
    expect(r.stdout).to.include(`(API ${pw.api})`);
  });

  it('a message-id with a slash: URLs carry it as %252F, and we read it back from them', async () => {
    t = await makeRealEnv(pw, { patches: 2, msgids: ['slash/one@host.example.org'] });
    const p = await t.patch('slash/one@host.example.org');
    const full = (await t.api<{ web_url: string; mbox: string }>('GET', `patches/${p.id}/`)).body;
    // Django's reverse() quotes the %2F that encoded_msgid made, on every version.
    expect(full.web_url).to.equal(`${pw.url}/project/${t.link}/patch/slash%252Fone@host.example.org/`);
    expect(webUrlTarget(full.web_url)).to.deep.equal({ msgid: 'slash/one@host.example.org' });
    const mbox = await fetch(full.mbox);
    expect(mbox.status).to.equal(200);
    expect(await mbox.text()).to.match(/^Message-I[dD]: <slash\/one@host\.example\.org>$/m);
    const r = await t.cli(['info', 'slash/one@host.example.org']);
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(r.stdout).to.include(`patch ${p.id}:`);
  });
});
