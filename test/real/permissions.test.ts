import { expect } from 'chai';
import { makeRealEnv, type RealEnv } from './env.js';
import { SUBMITTER, type RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// Who may change a patch on real Patchwork 3.1.3 (Patch.is_editable): a
// maintainer of its project, its submitter's registered user, and its
// delegate. Anyone else gets 403, and the state tag goes back.

describe('real Patchwork: permissions and tokens', function () {
  this.timeout(60_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  /** Seed 16 mails 3 of its 8 patches from the submitter's address. */
  async function synced(who: 'maint' | 'submitter' | 'plain' | 'none' | 'bad'): Promise<{ t: RealEnv; mine: string[]; others: string[] }> {
    t = await makeRealEnv(pw, { patches: 8, seed: 16, who: 'maint' });
    expect((await t.sync()).exitCode).to.equal(0);
    t.writeConfig({ who });
    const patches = await t.patches();
    const mine = patches.filter((p) => p.submitter.email === SUBMITTER.email).map((p) => p.msgid.slice(1, -1));
    const others = patches.filter((p) => p.submitter.email !== SUBMITTER.email).map((p) => p.msgid.slice(1, -1));
    expect(mine.length).to.be.greaterThan(0);
    return { t, mine, others };
  }

  it('a plain user is refused with 403: the state tag goes back and the report says not a maintainer', async () => {
    const { t, others } = await synced('plain');
    await t.retag(others[0]!, [`pw-${t.link}-accepted`], [`pw-${t.link}-new`]);
    const { exitCode, p } = await t.sync();
    expect(exitCode).to.equal(1);
    expect(p.pushed).to.equal(0);
    expect(p.refused).to.have.length(1);
    expect(p.refused[0]!.reason).to.match(/not a maintainer/);
    expect((await t.patch(others[0]!)).state).to.equal('new');
    expect(await t.stateTags(others[0]!)).to.deep.equal([`pw-${t.link}-new`]);
  });

  it('the submitter changes its own patch, and that is a push, not a refusal', async () => {
    const { t, mine } = await synced('submitter');
    await t.retag(mine[0]!, [`pw-${t.link}-rfc`], [`pw-${t.link}-new`]);
    const { exitCode, p } = await t.sync();
    expect(p.refused).to.deep.equal([]);
    expect(p.pushed).to.equal(1);
    expect(exitCode).to.equal(0);
    expect((await t.patch(mine[0]!)).state).to.equal('rfc');
    expect(await t.stateTags(mine[0]!)).to.deep.equal([`pw-${t.link}-rfc`]);
  });

  it('the submitter is refused on somebody else\'s patch', async () => {
    const { t, others } = await synced('submitter');
    await t.retag(others[0]!, [`pw-${t.link}-rfc`], [`pw-${t.link}-new`]);
    const { exitCode, p } = await t.sync();
    expect(exitCode).to.equal(1);
    expect(p.refused).to.have.length(1);
    expect((await t.patch(others[0]!)).state).to.equal('new');
    expect(await t.stateTags(others[0]!)).to.deep.equal([`pw-${t.link}-new`]);
  });

  it('the submitter\'s set-state on its own patch goes through', async () => {
    const { t, mine } = await synced('submitter');
    const r = await t.cli(['set-state', `<${mine[0]!}>`, 'deferred']);
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(r.stdout).not.to.match(/refused/);
    expect((await t.patch(mine[0]!)).state).to.equal('deferred');
  });

  it('the API delegates to maintainers only', async () => {
    const { t, others } = await synced('maint');
    const r = await t.api<Record<string, string[]>>('PATCH', `patches/${(await t.patch(others[1]!)).id}/`, 'maint', { delegate: pw.plain.id });
    expect(r.status).to.equal(400);
    expect(JSON.stringify(r.body)).to.match(/not a maintainer/);
  });

  it('the delegate, not a maintainer (any more), may change the state of a patch delegated to it', async () => {
    const { t, others } = await synced('plain');
    await pw.admin('delegate', { patch: (await t.patch(others[1]!)).id, username: pw.plain.username });
    await t.retag(others[1]!, [`pw-${t.link}-under-review`], [`pw-${t.link}-new`]);
    const { p } = await t.sync();
    expect(p.refused).to.deep.equal([]);
    expect(p.pushed).to.equal(1);
    expect((await t.patch(others[1]!)).state).to.equal('under-review');
  });

  it('without a token: pulls server changes, keeps the local change waiting, changes nothing on Patchwork', async () => {
    const { t, others } = await synced('none');
    await t.setState(others[0]!, 'accepted');
    await t.retag(others[1]!, [`pw-${t.link}-rejected`], [`pw-${t.link}-new`]);
    const { exitCode, p } = await t.sync();
    expect(exitCode).to.equal(1);
    expect(p.pushed).to.equal(0);
    expect(p.queued).to.have.length(1);
    expect(await t.stateTags(others[0]!)).to.deep.equal([`pw-${t.link}-accepted`]);
    expect(await t.stateTags(others[1]!)).to.deep.equal([`pw-${t.link}-rejected`]);
    expect((await t.patch(others[1]!)).state).to.equal('new');
    // With the token back, the waiting change goes out.
    t.writeConfig({ who: 'maint' });
    expect((await t.sync()).p.pushed).to.equal(1);
    expect((await t.patch(others[1]!)).state).to.equal('rejected');
  });

  it('an invalid token fails clearly, never prints the token, and loses no local change', async () => {
    const { t, others } = await synced('bad');
    await t.retag(others[0]!, [`pw-${t.link}-rejected`], [`pw-${t.link}-new`]);
    const r = await t.cli(['sync']);
    expect(r.exitCode).to.not.equal(0);
    expect(`${r.stdout}\n${r.stderr}`).to.match(/invalid token|Invalid token/i);
    expect(`${r.stdout}\n${r.stderr}`).not.to.include('0123456789abcdef0123456789abcdef01234567');
    expect(await t.stateTags(others[0]!)).to.deep.equal([`pw-${t.link}-rejected`]);
    expect((await t.patch(others[0]!)).state).to.equal('new');
    t.writeConfig({ who: 'maint' });
    expect((await t.sync()).p.pushed).to.equal(1);
  });
});
