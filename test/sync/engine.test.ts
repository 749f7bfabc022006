import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { sync } from '../../server/sync/engine.js';
import { isMailTag, makeEnv, msgidOf, patchesOf, patchIn, type TestEnv } from '../helpers.js';

// The sync engine against the sandbox Patchwork and a real notmuch database.

describe('sync engine', function () {
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));

  const stateTags = (tags: string[]): string[] => tags.filter((x) => /^pw-skiboot-/.test(x) && !isMailTag(x));

  it('tags every patch on the first sync, with the original tool\'s tag names', async () => {
    t = await makeEnv({ patches: 30 });
    const s = t.session();
    const summary = await sync(s);
    const p = summary.projects[0]!;
    expect(p.fetched).to.equal(30);
    expect(p.retagged).to.equal(30);
    expect(p.errors).to.deep.equal([]);
    for (const id of patchesOf(t)) {
      const patch = t.sandbox.data.patches.get(id)!;
      const tags = await t.tags(msgidOf(t, id));
      expect(tags).to.include.members(['patchwork', 'pw-skiboot', `pw-skiboot-${patch.state}`]);
      expect(stateTags(tags)).to.have.length(1);
    }
    // A reply to a patch is not a patch: no tags.
    expect(await t.notmuch.count(['tag:patchwork and subject:Re'])).to.deep.equal([0]);
    await s.close();
  });

  it('retags a message whose state changed on Patchwork', async () => {
    t = await makeEnv();
    const s = t.session();
    await sync(s);
    const id = patchesOf(t)[4]!;
    const next = t.sandbox.data.patches.get(id)!.state === 'accepted' ? 'rejected' : 'accepted';
    t.sandbox.data.setState(id, next);
    const p = (await sync(s)).projects[0]!;
    expect(p.retagged).to.equal(1);
    expect(stateTags(await t.tags(msgidOf(t, id)))).to.deep.equal([`pw-skiboot-${next}`]);
    await s.close();
  });

  it('pushes a local tag change and the server confirms it', async () => {
    t = await makeEnv();
    const s = t.session();
    await sync(s);
    const id = patchesOf(t)[2]!;
    const patch = t.sandbox.data.patches.get(id)!;
    const target = patch.state === 'accepted' ? 'rejected' : 'accepted';
    await t.notmuch.tag([{ msgid: msgidOf(t, id), add: [`pw-skiboot-${target}`], remove: [`pw-skiboot-${patch.state}`] }]);
    const p = (await sync(s)).projects[0]!;
    expect(p.pushed).to.equal(1);
    expect(patch.state).to.equal(target);
    const event = t.sandbox.data.events.at(-1)!;
    expect(event.category).to.equal('patch-state-changed');
    expect(event.actor).to.equal(t.maint.id);
    // Nothing left to do on the next run.
    const again = (await sync(s)).projects[0]!;
    expect([again.pushed, again.retagged]).to.deep.equal([0, 0]);
    await s.close();
  });

  it('takes "added the new tag but kept the old one" as a change to the new state', async () => {
    t = await makeEnv();
    const s = t.session();
    await sync(s);
    const id = patchesOf(t)[3]!;
    const patch = t.sandbox.data.patches.get(id)!;
    const old = patch.state;
    const target = old === 'under-review' ? 'accepted' : 'under-review';
    await t.notmuch.tag([{ msgid: msgidOf(t, id), add: [`pw-skiboot-${target}`], remove: [] }]);
    const p = (await sync(s)).projects[0]!;
    expect(p.pushed).to.equal(1);
    expect(patch.state).to.equal(target);
    expect(stateTags(await t.tags(msgidOf(t, id)))).to.deep.equal([`pw-skiboot-${target}`]);
    await s.close();
  });

  it('reports two new state tags as ambiguous and pushes nothing', async () => {
    t = await makeEnv();
    const s = t.session();
    await sync(s);
    const id = patchesOf(t).find((i) => !['accepted', 'rejected'].includes(t.sandbox.data.patches.get(i)!.state))!;
    const before = t.sandbox.data.patches.get(id)!.state;
    await t.notmuch.tag([{ msgid: msgidOf(t, id), add: ['pw-skiboot-accepted', 'pw-skiboot-rejected'], remove: [] }]);
    const p = (await sync(s)).projects[0]!;
    expect(p.ambiguous).to.have.length(1);
    expect(p.pushed).to.equal(0);
    expect(t.sandbox.data.patches.get(id)!.state).to.equal(before);
    expect(s.store.pending().map((r) => r.kind)).to.include('ambiguous');
    await s.close();
  });

  for (const prefer of ['server', 'local'] as const) {
    it(`resolves a conflict in favour of the ${prefer} side and reports it`, async () => {
      t = await makeEnv();
      const s = t.session();
      await sync(s);
      const id = patchIn(t, 'new');
      const msgid = msgidOf(t, id);
      t.sandbox.data.setState(id, 'changes-requested');
      await t.notmuch.tag([{ msgid, add: ['pw-skiboot-accepted'], remove: ['pw-skiboot-new'] }]);
      const p = (await sync(s, { prefer })).projects[0]!;
      expect(p.conflicts).to.have.length(1);
      expect(p.conflicts[0]).to.include({ local: 'accepted', remote: 'changes-requested' });
      const winner = prefer === 'server' ? 'changes-requested' : 'accepted';
      expect(t.sandbox.data.patches.get(id)!.state).to.equal(winner);
      expect(stateTags(await t.tags(msgid))).to.deep.equal([`pw-skiboot-${winner}`]);
      // Recorded once the tags are applied, and kept in the pending list until dropped (docs/protocol.md, pending).
      expect(s.store.pending().filter((r) => r.kind === 'conflict').map((r) => [r.msgid, r.state])).to.deep.equal([[msgid, winner]]);
      await s.close();
    });
  }

  it('answers a 403 for a non-maintainer by restoring the Patchwork state and saying why', async () => {
    t = await makeEnv({ token: 'user' });
    const s = t.session();
    await sync(s);
    const id = patchIn(t, 'new');
    const msgid = msgidOf(t, id);
    await t.notmuch.tag([{ msgid, add: ['pw-skiboot-accepted'], remove: ['pw-skiboot-new'] }]);
    const p = (await sync(s)).projects[0]!;
    expect(p.refused).to.have.length(1);
    expect(p.refused[0]!.reason).to.equal('not a maintainer of skiboot on sandbox');
    expect(t.sandbox.data.patches.get(id)!.state).to.equal('new');
    expect(stateTags(await t.tags(msgid))).to.deep.equal(['pw-skiboot-new']);
    await s.close();
  });

  it('stops at once on a Patchwork host that does not resolve, keeping the local change for the next sync', async () => {
    t = await makeEnv();
    const good = readFileSync(t.configFile, 'utf8');
    const s = t.session();
    await sync(s);
    await s.close();
    const id = patchIn(t, 'new');
    const msgid = msgidOf(t, id);
    await t.notmuch.tag([{ msgid, add: ['pw-skiboot-accepted'], remove: ['pw-skiboot-new'] }]);
    writeFileSync(t.configFile, good.replace(/^url = .*$/m, 'url = https://patchwork.invalid'));
    const offline = t.session();
    const failed = (await sync(offline)).projects[0]!;
    await offline.close();
    expect(failed.errors.join('\n')).to.match(/the host name patchwork\.invalid does not resolve \((ENOTFOUND|EAI_AGAIN)\): a typo in the url, or no network\?/);
    expect(stateTags(await t.tags(msgid))).to.deep.equal(['pw-skiboot-accepted']);
    expect(t.sandbox.data.patches.get(id)!.state).to.equal('new');
    writeFileSync(t.configFile, good);
    const again = t.session();
    expect((await sync(again)).projects[0]!.pushed).to.equal(1);
    expect(t.sandbox.data.patches.get(id)!.state).to.equal('accepted');
    await again.close();
  });

  it('keeps a change queued through a network failure and pushes it on a later sync', async () => {
    t = await makeEnv();
    const s = t.session();
    await sync(s);
    const id = patchIn(t, 'new');
    const msgid = msgidOf(t, id);
    await t.notmuch.tag([{ msgid, add: ['pw-skiboot-accepted'], remove: ['pw-skiboot-new'] }]);
    t.sandbox.faults.push({ method: 'PATCH', times: Infinity, status: 503, body: '<html>busy</html>', contentType: 'text/html' });
    const first = (await sync(s)).projects[0]!;
    expect(first.queued).to.have.length(1);
    expect(first.queued[0]!.reason).to.match(/503/);
    expect(stateTags(await t.tags(msgid))).to.deep.equal(['pw-skiboot-accepted']);
    expect(s.store.pending().filter((r) => r.kind === 'push')).to.have.length(1);
    t.sandbox.faults = [];
    const second = (await sync(s)).projects[0]!;
    expect(second.pushed).to.equal(1);
    expect(t.sandbox.data.patches.get(id)!.state).to.equal('accepted');
    expect(s.store.pending().filter((r) => r.kind === 'push')).to.have.length(0);
    await s.close();
  });

  it('tags a mail that arrives after its patch was synced', async () => {
    t = await makeEnv();
    const s = t.session();
    await sync(s);
    const late = t.sandbox.data.addPatch({ project: t.project.id, msgid: '<late.1@example.org>', name: 'late patch', submitter: 1, date: '2026-11-01T05:00:00', state: 'under-review' });
    const first = (await sync(s)).projects[0]!;
    expect(first.missingLocally).to.equal(1);
    await t.addMail('late.1@example.org', { date: new Date('2026-11-01T05:00:00Z') });
    const second = (await sync(s)).projects[0]!;
    expect([second.missingLocally, second.retagged, second.fetched]).to.deep.equal([0, 1, 0]);
    expect(stateTags(await t.tags('late.1@example.org'))).to.deep.equal(['pw-skiboot-under-review']);
    expect(s.store.patch('sandbox', 'skiboot', 'late.1@example.org')).to.include({ patch_id: late.id, remote: 'under-review', baseline: 'under-review' });
    await s.close();
  });

  it('tags a message in two projects with both projects\' tags', async () => {
    t = await makeEnv();
    const other = t.sandbox.data.addProject({ link_name: 'skiboot-stable', list_email: 'stable@lists.ozlabs.org', maintainers: [t.maint.id] });
    const id = patchesOf(t)[0]!;
    const shared = t.sandbox.data.patches.get(id)!;
    t.sandbox.data.addPatch({ project: other.id, msgid: shared.msgid, name: shared.name, submitter: shared.submitter, date: shared.date, state: 'accepted' });
    const { writeFileSync, readFileSync } = await import('node:fs');
    writeFileSync(t.configFile, readFileSync(t.configFile, 'utf8').replace('sync = skiboot=skiboot@lists.ozlabs.org', 'sync = skiboot=skiboot@lists.ozlabs.org, skiboot-stable'));
    const s = t.session();
    const summary = await sync(s);
    expect(summary.projects.map((p) => p.project)).to.deep.equal(['skiboot', 'skiboot-stable']);
    const tags = await t.tags(msgidOf(t, id));
    expect(tags).to.include.members(['pw-skiboot', `pw-skiboot-${shared.state}`, 'pw-skiboot-stable', 'pw-skiboot-stable-accepted']);
    // Project skiboot does not read skiboot-stable's tags as its own states.
    const again = await sync(s);
    expect(again.projects.every((p) => p.pushed === 0 && p.retagged === 0 && p.ambiguous.length === 0)).to.equal(true);
    await s.close();
  });

  it('tags and pushes state slugs beyond the default ten', async () => {
    t = await makeEnv();
    t.sandbox.states.push('needs-ack', 'queued-for-next');
    const id = patchesOf(t)[1]!;
    t.sandbox.data.patches.get(id)!.state = 'needs-ack';
    const s = t.session();
    await sync(s);
    const msgid = msgidOf(t, id);
    expect(stateTags(await t.tags(msgid))).to.deep.equal(['pw-skiboot-needs-ack']);
    await t.notmuch.tag([{ msgid, add: ['pw-skiboot-queued-for-next'], remove: ['pw-skiboot-needs-ack'] }]);
    const p = (await sync(s)).projects[0]!;
    expect(p.pushed).to.equal(1);
    expect(t.sandbox.data.patches.get(id)!.state).to.equal('queued-for-next');
    await s.close();
  });

  it('reads local changes without a token and keeps them, unpushed, until one is given', async () => {
    t = await makeEnv({ token: 'none' });
    const s = t.session();
    await sync(s);
    const id = patchIn(t, 'new');
    const msgid = msgidOf(t, id);
    await t.notmuch.tag([{ msgid, add: ['pw-skiboot-accepted'], remove: ['pw-skiboot-new'] }]);
    const p = (await sync(s)).projects[0]!;
    expect(p.queued).to.have.length(1);
    expect(p.queued[0]!.reason).to.match(/read-only: no token/);
    expect(stateTags(await t.tags(msgid))).to.deep.equal(['pw-skiboot-accepted']);
    expect(t.sandbox.log.some((r) => r.method === 'PATCH')).to.equal(false);
    await s.close();
    // With a token the same change goes out.
    const withToken = t.session({ tokens: { sandbox: t.maint.token } });
    expect((await sync(withToken)).projects[0]!.pushed).to.equal(1);
    expect(t.sandbox.data.patches.get(id)!.state).to.equal('accepted');
    await withToken.close();
  });

  it('does not mistake its own interrupted retag for a user change (journal)', async () => {
    t = await makeEnv();
    const s = t.session();
    await sync(s);
    const id = patchIn(t, 'new');
    const msgid = msgidOf(t, id);
    t.sandbox.data.setState(id, 'under-review');
    // As if a run had journaled and tagged, then died before committing.
    s.store.setJournal('sandbox', 'skiboot', msgid, 'under-review');
    await t.notmuch.tag([{ msgid, add: ['pw-skiboot-under-review'], remove: ['pw-skiboot-new'] }]);
    t.sandbox.data.setState(id, 'accepted');
    const p = (await sync(s, { prefer: 'local' })).projects[0]!;
    expect(p.pushed).to.equal(0);
    expect(p.conflicts).to.have.length(0);
    expect(t.sandbox.data.patches.get(id)!.state).to.equal('accepted');
    expect(stateTags(await t.tags(msgid))).to.deep.equal(['pw-skiboot-accepted']);
    await s.close();
  });

  it('changes nothing on a dry run', async () => {
    t = await makeEnv();
    const s = t.session();
    const p = (await sync(s, { dryRun: true })).projects[0]!;
    expect(p.retagged).to.equal(20);
    expect(await t.notmuch.count(['tag:patchwork'])).to.deep.equal([0]);
    await s.close();
  });

  it('says which instance rejected the token', async () => {
    t = await makeEnv();
    const s = t.session({ tokens: { sandbox: 'not-a-valid-token-at-all' } });
    const p = (await sync(s)).projects[0]!;
    expect(p.errors[0]).to.equal('sandbox: Patchwork rejected the token (Invalid token.); check the token for sandbox');
    expect(JSON.stringify(p)).not.to.include('not-a-valid-token-at-all');
    await s.close();
  });

  it('names an unknown project instead of syncing an empty list', async () => {
    t = await makeEnv();
    const { writeFileSync, readFileSync } = await import('node:fs');
    writeFileSync(t.configFile, readFileSync(t.configFile, 'utf8').replace('sync = skiboot=', 'sync = skibot='));
    const s = t.session();
    const p = (await sync(s)).projects[0]!;
    expect(p.errors[0]).to.match(/^sandbox: no project "skibot" \(it has 1 project: skiboot\)/);
    await s.close();
  });

  it('refuses a second sync on the same state database while one runs', async () => {
    t = await makeEnv({ patches: 5 });
    t.sandbox.delayMs = 100;
    const a = t.session();
    const b = t.session();
    const first = sync(a);
    await new Promise((r) => setTimeout(r, 20));
    let error: unknown;
    try { await sync(b); } catch (err) { error = err; }
    expect(String(error)).to.match(/a sync is already running|another pwnm-sync/);
    await first;
    await a.close();
    await b.close();
  });
});
