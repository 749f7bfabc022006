import { expect } from 'chai';
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PwnmError } from '../../server/errors.js';
import { Notmuch } from '../../server/notmuch/notmuch.js';
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

describe('notmuch dump time limit', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pwnm-fake-notmuch-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A `notmuch` on PATH that writes `lines` dump lines, `pauseS` seconds apart. */
  function fakeNotmuch(lines: number, pauseS: number): Notmuch {
    const script = join(dir, 'notmuch');
    // One process (a shell would leave its `sleep` holding the pipe when killed).
    writeFileSync(script, `#!${process.execPath}\nlet i = 0;\nconst next = () => { if (i === ${lines}) return; console.log('+inbox -- id:m' + i++ + '@x'); setTimeout(next, ${pauseS * 1000}); };\nnext();\n`, { mode: 0o755 });
    return new Notmuch({ env: { PATH: `${dir}:${process.env.PATH ?? ''}` }, lockTimeoutMs: 200, dumpSilenceMs: 1000 });
  }

  it('lets a dump run as long as it keeps writing (a million messages take most of a minute)', async () => {
    // 3 s in all, past the 1.2 s that lock wait and silence allow, with never 1 s without a line.
    const dumped = await fakeNotmuch(10, 0.3).dump('*');
    expect(dumped.size).to.equal(10);
  });

  it('gives up on a dump silent for longer than allowed, as on a lock held too long', async () => {
    const started = Date.now();
    const failed = await fakeNotmuch(2, 5).dump('*').then(() => undefined, (err: unknown) => err);
    expect(failed).to.be.instanceOf(PwnmError);
    expect((failed as PwnmError).code).to.equal('NOTMUCH_LOCKED');
    expect(Date.now() - started).to.be.below(4000);
  });
});
