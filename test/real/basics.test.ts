import { expect } from 'chai';
import { makeRealEnv, patchMsgids, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// The everyday loop against a real Patchwork 3.1.3: first sync, a change
// on either side, and what happens when both sides changed. Expected
// states are read back from the real API.

describe('real Patchwork: sync basics', function () {
  this.timeout(60_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  /** A synced env and its patch msgids. */
  async function synced(patches = 6): Promise<{ t: RealEnv; ids: string[] }> {
    t = await makeRealEnv(pw, { patches });
    expect((await t.sync()).exitCode).to.equal(0);
    return { t, ids: patchMsgids(t.mails) };
  }

  it('first sync tags every imported patch with the state Patchwork reports', async () => {
    t = await makeRealEnv(pw, { patches: 8 });
    const ids = patchMsgids(t.mails);
    await t.setState(ids[0]!, 'accepted');
    await t.setState(ids[1]!, 'changes-requested');
    const { exitCode, p } = await t.sync();
    expect(exitCode).to.equal(0);
    expect(p).to.include({ mode: 'full', fetched: 8, retagged: 8, missingLocally: 0 });
    const server = await t.patches();
    expect(server).to.have.length(8);
    for (const patch of server) {
      const id = patch.msgid.slice(1, -1);
      expect(await t.tags(id), id).to.include.members(['patchwork', `pw-${t.link}`, `pw-${t.link}-${patch.state}`]);
    }
    expect(await t.stateTags(ids[0]!)).to.deep.equal([`pw-${t.link}-accepted`]);
    expect(await t.stateTags(ids[1]!)).to.deep.equal([`pw-${t.link}-changes-requested`]);
  });

  it('lists at API 1.0 and keeps each web page as the server gives it at 1.3', async () => {
    t = await makeRealEnv(pw, { patches: 3 });
    expect((await t.sync()).exitCode).to.equal(0);
    const lists = pw.log().split('\n').filter((l) => l.includes(`project=${t!.projectId}&`) && /"GET \/api\/[\d.]+\/patches\/\?/.test(l));
    expect(lists.some((l) => l.includes('/api/1.0/patches/?'))).to.equal(true);
    for (const patch of await t.patches()) {
      const info = JSON.parse((await t.cli(['info', patch.msgid.slice(1, -1), '--json'])).stdout) as { patches: { webUrl: string }[] };
      expect(info.patches[0]!.webUrl, patch.msgid).to.equal(patch.web_url);
    }
  });

  it('leaves replies and cover letters untagged', async () => {
    const { t } = await synced(10);
    const others = t.mails.filter((m) => !m.text.includes('\ndiff --git '));
    expect(others.length).to.be.greaterThan(0);
    for (const m of others) expect(await t.tags(m.msgid), m.msgid).not.to.include('patchwork');
  });

  it('retags a state changed on the server, from the event log', async () => {
    const { t, ids } = await synced();
    await t.setState(ids[2]!, 'under-review');
    const { p } = await t.sync();
    expect(p).to.include({ mode: 'events', retagged: 1, pushed: 0 });
    expect(await t.stateTags(ids[2]!)).to.deep.equal([`pw-${t.link}-under-review`]);
  });

  it('costs one round of requests and no retag when nothing changed', async () => {
    const { t } = await synced();
    // This counts event and archive-check requests: bundles (a token, no me) cost one listing more (issue 27).
    t.writeConfig({ global: 'tag_bundles = off' });
    await t.sync();
    const { p } = await t.sync();
    expect(p).to.include({ mode: 'events', retagged: 0, pushed: 0, fetched: 0 });
    expect(p.httpRequests).to.be.at.most(2);
  });

  it('pushes a state tag replaced locally', async () => {
    const { t, ids } = await synced();
    await t.retag(ids[0]!, [`pw-${t.link}-rfc`], [`pw-${t.link}-new`]);
    const { exitCode, p } = await t.sync();
    expect(exitCode).to.equal(0);
    expect(p.pushed).to.equal(1);
    expect((await t.patch(ids[0]!)).state).to.equal('rfc');
    expect(await t.stateTags(ids[0]!)).to.deep.equal([`pw-${t.link}-rfc`]);
  });

  it('pushes a new state tag added next to the old one, and drops the old tag', async () => {
    const { t, ids } = await synced();
    await t.retag(ids[1]!, [`pw-${t.link}-deferred`], []);
    const { p } = await t.sync();
    expect(p.pushed).to.equal(1);
    expect((await t.patch(ids[1]!)).state).to.equal('deferred');
    expect(await t.stateTags(ids[1]!)).to.deep.equal([`pw-${t.link}-deferred`]);
  });

  it('lets Patchwork win a conflict by default and reports it', async () => {
    const { t, ids } = await synced();
    await t.retag(ids[0]!, [`pw-${t.link}-rejected`], [`pw-${t.link}-new`]);
    await t.setState(ids[0]!, 'accepted');
    const { p } = await t.sync();
    expect(p.conflicts).to.have.length(1);
    expect(p.conflicts[0]).to.include({ local: 'rejected', remote: 'accepted' });
    expect((await t.patch(ids[0]!)).state).to.equal('accepted');
    expect(await t.stateTags(ids[0]!)).to.deep.equal([`pw-${t.link}-accepted`]);
  });

  it('pushes the local side of a conflict with --prefer local', async () => {
    const { t, ids } = await synced();
    await t.retag(ids[0]!, [`pw-${t.link}-rejected`], [`pw-${t.link}-new`]);
    await t.setState(ids[0]!, 'accepted');
    const { p } = await t.sync(['--prefer', 'local']);
    expect(p.conflicts).to.have.length(1);
    expect((await t.patch(ids[0]!)).state).to.equal('rejected');
    expect(await t.stateTags(ids[0]!)).to.deep.equal([`pw-${t.link}-rejected`]);
  });

  it('set-state changes the patch on Patchwork and its tags', async () => {
    const { t, ids } = await synced();
    const r = await t.cli(['set-state', `<${ids[3]!}>`, 'Not Applicable']);
    expect(r.exitCode, r.stderr).to.equal(0);
    expect((await t.patch(ids[3]!)).state).to.equal('not-applicable');
    expect(await t.stateTags(ids[3]!)).to.deep.equal([`pw-${t.link}-not-applicable`]);
  });

  it('status counts the tagged messages', async () => {
    const { t } = await synced(5);
    const r = await t.cli(['status']);
    expect(r.stdout).to.match(new RegExp(`^${t.link} \\(real\\): 5 messages tagged pw-${t.link}; 0 patches not in notmuch; 0 pending`));
  });
});
