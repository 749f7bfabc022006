import { expect } from 'chai';
import { execa } from 'execa';
import { TagSets } from '../../server/notmuch/tag-sets.js';
import { makeEnv, msgidOf, patchesOf, type TestEnv } from '../helpers.js';

// notmuch dump read as it streams: lines cut across the pipe's chunks must
// come out whole, and large syncs share one array per set of tags.

describe('notmuch dump', function () {
  this.timeout(120_000);
  let env: TestEnv;
  before(async () => {
    // 1,500 patches and their covers and replies: a dump of well over one 64 KiB chunk.
    env = await makeEnv({ patches: 1500 });
  });
  after(() => env.cleanup());

  it('reads every message whole, however the output is cut into chunks', async () => {
    const dumped = await env.notmuch.dump('*');
    const { stdout } = await execa('notmuch', ['count', '--output=messages', '*'], { env: env.env });
    expect(dumped.size).to.equal(Number(stdout));
    const { stdout: raw } = await execa('notmuch', ['dump', '--format=batch-tag', '--', '*'], { env: env.env });
    expect(raw.length).to.be.greaterThan(65_536);
    for (const id of patchesOf(env)) expect(dumped.get(msgidOf(env, id)), msgidOf(env, id)).to.deep.equal(['inbox']);
  });

  it('shares one frozen array per set of tags when asked, and gives each message its own otherwise', async () => {
    const [a, b] = patchesOf(env).map((id) => msgidOf(env, id));
    const shared = await env.notmuch.dump(`id:${a} or id:${b}`, new TagSets());
    expect(shared.get(a!)).to.equal(shared.get(b!));
    expect(Object.isFrozen(shared.get(a!))).to.equal(true);
    const own = await env.notmuch.dump(`id:${a} or id:${b}`);
    expect(own.get(a!)).to.deep.equal(own.get(b!));
    expect(own.get(a!)).to.not.equal(own.get(b!));
    own.get(a!)!.push('mine');
    expect(own.get(b!)).to.deep.equal(['inbox']);
  });
});
