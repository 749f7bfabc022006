import { expect } from 'chai';
import { execa } from 'execa';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { sync } from '../../server/sync/engine.js';
import { CLI, isMailTag, makeEnv, msgidOf, patchesOf, patchIn, type TestEnv } from '../helpers.js';

// Later syncs cost what changed: events since the mark, tags changed since
// notmuch's revision. Tests about the patch requests turn bundle tags off
// (bundlesOff below); the first keeps the default (a token, tag_bundles =
// mine) to pin what a default user pays.

describe('incremental sync', function () {
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));
  const stateTag = async (msgid: string): Promise<string[]> => (await t.tags(msgid)).filter((x) => x.startsWith('pw-skiboot-') && !isMailTag(x));
  const httpSince = (mark: number): number => t.sandbox.log.length - mark;
  /** Bundle tags off: their one listing per instance and sync is not what these tests count. */
  const bundlesOff = (): void => void t.writeConfig('', 'tag_bundles = off');

  it('makes 2 HTTP requests per project, 1 bundle listing per instance and 1 notmuch call when nothing changed (the README\'s promise)', async () => {
    t = await makeEnv({ patches: 40 });
    const s = t.session();
    expect((await sync(s)).projects[0]!.mode).to.equal('full');
    await sync(s); // reads back its own tags once
    const mark = t.sandbox.log.length;
    const summary = await sync(s);
    const p = summary.projects[0]!;
    expect(p.mode).to.equal('events');
    expect(p.local).to.equal('lastmod');
    // The events page, the archive check's count, the instance's bundle listing (tag_bundles = mine
    // by default; issue 17: one per instance and sync), and the revision read: nothing else.
    expect(t.sandbox.log.slice(mark).map((r) => new URL(r.url, 'http://x').pathname)).to.deep.equal(['/api/1.3/events/', '/api/1.3/patches/', '/api/1.3/bundles/']);
    expect(p.httpRequests).to.equal(2 + 1);
    expect(summary.notmuchCalls).to.equal(1);
    expect([p.retagged, p.pushed, p.fetched]).to.deep.equal([0, 0, 0]);
    await s.close();
  });

  it('sees a state change on a patch mailed years before the epoch', async () => {
    t = await makeEnv({ patches: 5 });
    const old = t.sandbox.data.addPatch({ project: t.project.id, msgid: '<ancient.1@example.org>', name: 'old patch', submitter: 1, date: '2015-03-01T10:00:00', state: 'new' }, true);
    await t.addMail('ancient.1@example.org', { date: new Date('2015-03-01T10:00:00Z') });
    const s = t.session({}, { epoch: '2026-01-01' });
    await sync(s);
    expect(await stateTag('ancient.1@example.org')).to.deep.equal([]);
    t.sandbox.data.setState(old.id, 'accepted');
    const p = (await sync(s)).projects[0]!;
    expect(p.mode).to.equal('events');
    expect(await stateTag('ancient.1@example.org')).to.deep.equal(['pw-skiboot-accepted']);
    await s.close();
  });

  it('applies 50 server-side changes among 10,000 patches with requests proportional to 50', async function () {
    this.timeout(120_000);
    t = await makeEnv({ patches: 100 });
    bundlesOff();
    const person = t.sandbox.data.addPerson('Bulk', 'bulk@example.org');
    for (let i = 0; i < 9900; i++) {
      t.sandbox.data.addPatch({ project: t.project.id, msgid: `<bulk.${i}@example.org>`, name: `bulk ${i}`, submitter: person.id, date: '2026-10-31T12:00:00', state: 'new' }, true);
    }
    const s = t.session();
    const first = (await sync(s)).projects[0]!;
    expect(first.fetched).to.equal(10_000);
    await sync(s);
    const ids = patchesOf(t);
    const changed = [...ids.slice(0, 25), ...ids.slice(-25)]; // 25 with mail here, 25 without
    for (const id of changed) t.sandbox.data.setState(id, t.sandbox.data.patches.get(id)!.state === 'deferred' ? 'rfc' : 'deferred');
    const mark = t.sandbox.log.length;
    const p = (await sync(s)).projects[0]!;
    expect(p.mode).to.equal('events');
    expect(p.eventsRead).to.equal(50);
    expect(httpSince(mark)).to.be.at.most(2);
    expect(p.retagged).to.equal(25);
    for (const id of changed.slice(0, 25)) expect(await stateTag(msgidOf(t, id))).to.deep.equal([`pw-skiboot-${t.sandbox.data.patches.get(id)!.state}`]);
    await s.close();
  });

  it('fetches new patches from their events and tags mail that arrives later without asking Patchwork', async () => {
    t = await makeEnv({ patches: 10 });
    bundlesOff();
    const s = t.session();
    await sync(s);
    for (let i = 0; i < 3; i++) t.sandbox.data.addPatch({ project: t.project.id, msgid: `<fresh.${i}@example.org>`, name: `fresh ${i}`, submitter: 1, date: '2026-11-01T02:00:00', state: i ? 'new' : 'rfc' });
    let mark = t.sandbox.log.length;
    const p = (await sync(s)).projects[0]!;
    expect(p.fetched).to.equal(3);
    expect(p.missingLocally).to.equal(3);
    expect(httpSince(mark)).to.equal(5); // the events, one GET per new patch, the archive check
    await t.addMail('fresh.0@example.org');
    mark = t.sandbox.log.length;
    const local = (await sync(s, { localOnly: true })).projects[0]!;
    expect(local.mode).to.equal('none');
    expect(httpSince(mark)).to.equal(0);
    expect(await stateTag('fresh.0@example.org')).to.deep.equal(['pw-skiboot-rfc']);
    await s.close();
  });

  it('fetches many new patches with one since-list', async () => {
    t = await makeEnv({ patches: 10 });
    bundlesOff();
    const s = t.session();
    await sync(s);
    for (let i = 0; i < 40; i++) t.sandbox.data.addPatch({ project: t.project.id, msgid: `<many.${i}@example.org>`, name: `many ${i}`, submitter: 1, date: '2026-11-01T03:00:00', state: 'new' });
    const mark = t.sandbox.log.length;
    const p = (await sync(s)).projects[0]!;
    expect(p.fetched).to.be.at.least(40);
    expect(httpSince(mark)).to.equal(3); // the events, the since-list, the archive check
    await s.close();
  });

  it('records a local change in a local-only run and pushes it with the next sync', async () => {
    t = await makeEnv({ patches: 10 });
    const s = t.session();
    await sync(s);
    const id = patchIn(t, 'new');
    await t.notmuch.tag([{ msgid: msgidOf(t, id), add: ['pw-skiboot-accepted'], remove: ['pw-skiboot-new'] }]);
    const local = (await sync(s, { localOnly: true })).projects[0]!;
    expect(local.queued.map((q) => q.reason)).to.deep.equal(['recorded by a local-only run; the next sync pushes it']);
    expect(t.sandbox.data.patches.get(id)!.state).to.equal('new');
    const next = (await sync(s)).projects[0]!;
    expect(next.pushed).to.equal(1);
    expect(t.sandbox.data.patches.get(id)!.state).to.equal('accepted');
    await s.close();
  });

  it('falls back to since windows on a server without events, and says so once', async () => {
    t = await makeEnv({ patches: 10 });
    bundlesOff();
    t.sandbox.events = false;
    const s = t.session();
    const first = (await sync(s)).projects[0]!;
    expect(first.mode).to.equal('full');
    const id = patchesOf(t)[9]!;
    t.sandbox.data.setState(id, 'superseded');
    const now = new Date().toISOString().slice(0, 19);
    t.sandbox.data.addPatch({ project: t.project.id, msgid: '<recent.1@example.org>', name: 'recent', submitter: 1, date: now, state: 'rfc' });
    await t.addMail('recent.1@example.org', { date: new Date(`${now}Z`) });
    const second = (await sync(s)).projects[0]!;
    expect(second.mode).to.equal('window');
    expect(second.notes).to.deep.equal([]);
    expect(second.since).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(await stateTag('recent.1@example.org')).to.deep.equal(['pw-skiboot-rfc']);
    // The window cannot see a state change of an older patch; --full does.
    expect(await stateTag(msgidOf(t, id))).not.to.deep.equal(['pw-skiboot-superseded']);
    expect((await sync(s, { full: true })).projects[0]!.mode).to.equal('full');
    expect(await stateTag(msgidOf(t, id))).to.deep.equal(['pw-skiboot-superseded']);
    await s.close();
  });

  it('notes the missing events API when a server loses it', async () => {
    t = await makeEnv({ patches: 5 });
    bundlesOff();
    const s = t.session();
    await sync(s);
    t.sandbox.events = false;
    const p = (await sync(s)).projects[0]!;
    expect(p.mode).to.equal('window');
    expect(p.notes[0]).to.match(/has no events API: state changes of patches mailed before the last sync are seen only by --full/);
    expect((await sync(s)).projects[0]!.notes).to.deep.equal([]);
    await s.close();
  });

  it('reads everything again when the notmuch database was rebuilt', async () => {
    t = await makeEnv({ patches: 8 });
    const s = t.session();
    await sync(s);
    rmSync(join(t.maildir, '.notmuch'), { recursive: true, force: true });
    await execa('notmuch', ['new', '--quiet'], { env: t.env });
    const p = (await sync(s)).projects[0]!;
    expect(p.local).to.equal('full');
    expect(p.notes[0]).to.match(/rebuilt/);
    expect(p.retagged).to.equal(8);
    for (const id of patchesOf(t)) expect(await stateTag(msgidOf(t, id))).to.have.length(1);
    await s.close();
  });

  for (const point of ['after-fetch', 'after-tag', 'after-push'] as const) {
    it(`converges after a kill -9 ${point.replace('-', ' ')}, every local change pushed exactly once`, async () => {
      t = await makeEnv({ patches: 30 });
      const run = (env: NodeJS.ProcessEnv = t.env) => execa(process.execPath, [CLI, '-c', t.configFile, 'sync'], { env, extendEnv: false, reject: false });
      expect((await run()).exitCode).to.equal(0);
      const ids = patchesOf(t);
      const localIds = ids.filter((i) => t.sandbox.data.patches.get(i)!.state === 'new').slice(0, 3);
      for (const id of localIds) await t.notmuch.tag([{ msgid: msgidOf(t, id), add: ['pw-skiboot-under-review'], remove: ['pw-skiboot-new'] }]);
      const serverIds = ids.filter((i) => !localIds.includes(i)).slice(0, 3);
      for (const id of serverIds) t.sandbox.data.setState(id, 'not-applicable');
      const crashed = await run({ ...t.env, PWNM_SYNC_CRASH_AT: point });
      expect(crashed.signal).to.equal('SIGKILL');
      const again = await run();
      expect(again.exitCode, again.stdout + again.stderr).to.equal(0);
      for (const id of ids) expect(await stateTag(msgidOf(t, id)), String(id)).to.deep.equal([`pw-skiboot-${t.sandbox.data.patches.get(id)!.state}`]);
      for (const id of localIds) {
        expect(t.sandbox.data.patches.get(id)!.state).to.equal('under-review');
        expect(t.sandbox.data.events.filter((e) => e.category === 'patch-state-changed' && e.payload.patch === id && e.actor === t.maint.id)).to.have.length(1);
      }
      // A third run finds nothing left to do.
      expect((await run()).stdout).to.match(/0 retagged, 0 pushed, 0 conflicts/);
    });
  }
});
