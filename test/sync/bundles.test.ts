import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listPending } from '../../server/ops/pending.js';
import { sync } from '../../server/sync/engine.js';
import type { Session } from '../../server/session.js';
import { makeEnv, msgidOf, patchesOf, type TestEnv } from '../helpers.js';

// Bundles as tags, both ways, against the sandbox (whose bundles API is
// checked against a real Patchwork 3.1.3) and a real notmuch database.
// Tag names are written out by hand from the README's rule, never computed
// by the code under test.

describe('bundles as tags', function () {
  this.timeout(60_000);
  let t: TestEnv;
  let s: Session | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
    await t?.cleanup();
  });

  const FAMILY = 'pw-skiboot-bundle';
  const bundleTags = async (id: number): Promise<string[]> => (await t.tags(msgidOf(t, id))).filter((x) => x.startsWith(FAMILY));
  /** Every message carrying a tag of the bundle family, with those tags. */
  async function tagged(): Promise<Record<string, string[]>> {
    const dump = await t.notmuch.dump(`tag:"/^${FAMILY}/"`);
    return Object.fromEntries([...dump].map(([m, tags]) => [m, tags.filter((x) => x.startsWith(FAMILY)).sort()]));
  }
  const writes = (from: number) => t.sandbox.log.slice(from).filter((r) => r.method !== 'GET' && r.url.includes('/bundles/'));
  const bundle = (name: string) => t.sandbox.data.bundles.find((b) => b.name === name);
  async function fresh(instanceLines = 'me = maint\n', global = ''): Promise<Session> {
    t.writeConfig(instanceLines, global);
    await s?.close();
    s = t.session();
    return s;
  }

  it('a bundle on Patchwork becomes tags on its patches and nothing else, and a no-change sync costs one request more', async () => {
    t = await makeEnv({ patches: 8 });
    const [a, b, c] = patchesOf(t);
    t.sandbox.data.addBundle({ owner: t.maint.id, name: 'to-test', public: false, patches: [a!, b!] });
    await sync(await fresh());
    expect(await tagged()).to.deep.equal({
      [msgidOf(t, a!)]: [FAMILY, 'pw-skiboot-bundle-to-test'],
      [msgidOf(t, b!)]: [FAMILY, 'pw-skiboot-bundle-to-test'],
    });
    expect(await bundleTags(c!)).to.deep.equal([]);
    // A change on Patchwork (bundles have no events) is found by the listing and retagged.
    bundle('to-test')!.patches = [b!, c!];
    const r = await sync(await fresh());
    expect(r.ok).to.equal(true);
    expect(await bundleTags(a!)).to.deep.equal([]);
    expect(await bundleTags(c!)).to.deep.equal([FAMILY, 'pw-skiboot-bundle-to-test']);
    // No change anywhere (once our own retagging is read back): the same sync with bundles off and on
    // differ by one request and no notmuch call.
    await sync(await fresh());
    const off = await sync(await fresh('me = maint\ntag_bundles = off\n'));
    const mark = t.sandbox.log.length;
    const on = await sync(await fresh());
    const offRequests = off.projects[0]!.httpRequests;
    expect(on.projects[0]!.httpRequests).to.equal(offRequests + 1);
    expect(t.sandbox.log.slice(mark).filter((x) => x.url.includes('/bundles/')).map((x) => x.url)).to.deep.equal(['/api/1.3/bundles/?owner=maint&per_page=250']);
    expect(on.notmuchCalls).to.equal(off.notmuchCalls);
  });

  it('two bundles whose names give one tag: reported, only the first is tagged, and a local change writes only the first', async () => {
    t = await makeEnv({ patches: 8 });
    const [a, b, c] = patchesOf(t);
    t.sandbox.data.addBundle({ owner: t.maint.id, name: 'to test', public: false, patches: [a!] });
    t.sandbox.data.addBundle({ owner: t.maint.id, name: 'to_test', public: false, patches: [b!] });
    const r = await sync(await fresh());
    expect(r.projects[0]!.notes).to.deep.equal(['bundles "to test" and "to_test" both give the tag pw-skiboot-bundle-to_test; only bundle 1 is tagged']);
    expect(await tagged()).to.deep.equal({ [msgidOf(t, a!)]: [FAMILY, 'pw-skiboot-bundle-to_test'] });
    await t.notmuch.tag([{ msgid: msgidOf(t, c!), add: ['pw-skiboot-bundle-to_test'], remove: [] }]);
    const r2 = await sync(await fresh());
    expect(r2.ok, JSON.stringify(r2.projects[0])).to.equal(true);
    expect(bundle('to test')!.patches.sort((x, y) => x - y)).to.deep.equal([a!, c!].sort((x, y) => x - y));
    expect(bundle('to_test')!.patches).to.deep.equal([b!]);
    expect(await bundleTags(b!)).to.deep.equal([]);
  });

  describe('the original [Defaults] config, no me', () => {
    /** The original tool's config: one [Defaults] section with a token and no `me`. */
    function original(token: string | undefined): Session {
      const file = join(t.dir, 'pwnm-sync.ini');
      writeFileSync(file, `[Defaults]\npatchwork_url = ${t.sandbox.url}\n${token ? `patchwork_token = ${token}\n` : ''}sync = skiboot=skiboot@lists.ozlabs.org\n`);
      void s?.close();
      s = t.session({}, { configFile: file });
      return s;
    }
    const NOTE = (inst: string) => `bundle tags off for ${inst}: set me = USERNAME in [instance ${inst}] (or [Defaults]), or make one private bundle on Patchwork`;

    it('a private bundle made on the server gets its tags after one sync, and a local tag adds a patch to it', async () => {
      t = await makeEnv({ patches: 8 });
      const [a, b, c] = patchesOf(t);
      // Someone else's public bundle first: its owner is not the token's user.
      t.sandbox.data.addBundle({ owner: t.user.id, name: 'theirs', public: true, patches: [c!] });
      t.sandbox.data.addBundle({ owner: t.maint.id, name: 'ci-batch', public: false, patches: [a!] });
      const r = await sync(original(t.maint.token));
      expect(r.ok, JSON.stringify(r.projects[0])).to.equal(true);
      expect(await tagged()).to.deep.equal({ [msgidOf(t, a!)]: [FAMILY, 'pw-skiboot-bundle-ci-batch'] });
      await t.notmuch.tag([{ msgid: msgidOf(t, b!), add: ['pw-skiboot-bundle-ci-batch'], remove: [] }]);
      const r2 = await sync(original(t.maint.token));
      expect(r2.ok, JSON.stringify(r2.projects[0])).to.equal(true);
      expect(bundle('ci-batch')!.patches.sort((x, y) => x - y)).to.deep.equal([a!, b!].sort((x, y) => x - y));
      expect(bundle('theirs')!.patches).to.deep.equal([c!]);
      // Remembered: later syncs list only the user's bundles.
      const mark = t.sandbox.log.length;
      await sync(original(t.maint.token));
      expect(t.sandbox.log.slice(mark).filter((x) => x.url.includes('/bundles/')).map((x) => x.url)).to.deep.equal(['/api/1.3/bundles/?owner=maint&per_page=250']);
    });

    it('when the user cannot be known: the summary says so once, and a local bundle tag waits in pending', async () => {
      t = await makeEnv({ patches: 8 });
      const [a, b] = patchesOf(t);
      t.sandbox.data.addBundle({ owner: t.user.id, name: 'theirs', public: true, patches: [b!] });
      await sync(original(t.maint.token));
      await t.notmuch.tag([{ msgid: msgidOf(t, a!), add: ['pw-skiboot-bundle-ci-batch'], remove: [] }]);
      const mark = t.sandbox.log.length;
      const r = await sync(original(t.maint.token));
      const inst = new URL(t.sandbox.url).host;
      expect(r.projects[0]!.notes.filter((n) => n.startsWith('bundle tags off'))).to.deep.equal([NOTE(inst)]);
      expect(r.projects[0]!.queued.map((q) => [q.msgid, q.reason])).to.deep.equal([[msgidOf(t, a!), NOTE(inst)]]);
      expect(t.sandbox.log.slice(mark).filter((x) => x.method !== 'GET')).to.deep.equal([]);
      expect(await t.tags(msgidOf(t, a!))).to.include('pw-skiboot-bundle-ci-batch');
      expect(await bundleTags(b!)).to.deep.equal([]);
      expect(listPending(s!).map((p) => [p.kind, p.messageId, p.state, p.reason])).to.deep.equal([['bundle', msgidOf(t, a!), '+bundle ci-batch', NOTE(inst)]]);
    });
  });

  it('a local tag adds the patch to the bundle and removing it removes it; two changes are one write', async () => {
    t = await makeEnv({ patches: 8 });
    const [a, b, c, d] = patchesOf(t);
    t.sandbox.data.addBundle({ owner: t.maint.id, name: 'to-test', public: false, patches: [a!, b!] });
    await sync(await fresh());
    await t.notmuch.tag([{ msgid: msgidOf(t, c!), add: ['pw-skiboot-bundle-to-test'], remove: [] }, { msgid: msgidOf(t, d!), add: ['pw-skiboot-bundle-to-test'], remove: [] }]);
    await t.notmuch.tag([{ msgid: msgidOf(t, a!), add: [], remove: ['pw-skiboot-bundle-to-test'] }]);
    // Meanwhile on Patchwork: nothing. One PATCH carries all three changes.
    const mark = t.sandbox.log.length;
    const r = await sync(await fresh());
    expect(r.ok, JSON.stringify(r.projects[0])).to.equal(true);
    expect(writes(mark).map((x) => x.method)).to.deep.equal(['PATCH']);
    expect(bundle('to-test')!.patches.sort((x, y) => x - y)).to.deep.equal([b!, c!, d!]);
    expect(r.projects[0]!.pushed).to.equal(1);
    // The family tag follows: on c and d, off a.
    expect(await bundleTags(a!)).to.deep.equal([]);
    expect(await bundleTags(d!)).to.deep.equal([FAMILY, 'pw-skiboot-bundle-to-test']);
    // The next sync has nothing to write.
    const again = t.sandbox.log.length;
    await sync(await fresh());
    expect(writes(again)).to.deep.equal([]);
  });

  it('a change on each side of the same bundle: the write merges the list read just before it', async () => {
    t = await makeEnv({ patches: 8 });
    const [a, b, c] = patchesOf(t);
    const bun = t.sandbox.data.addBundle({ owner: t.maint.id, name: 'mix', public: false, patches: [a!] });
    await sync(await fresh());
    bun.patches = [a!, b!];
    await t.notmuch.tag([{ msgid: msgidOf(t, c!), add: ['pw-skiboot-bundle-mix'], remove: [] }]);
    await sync(await fresh());
    expect([...bun.patches].sort((x, y) => x - y)).to.deep.equal([a!, b!, c!]);
    for (const id of [a!, b!, c!]) expect(await bundleTags(id)).to.deep.equal([FAMILY, 'pw-skiboot-bundle-mix']);
  });

  it('a tag for a bundle that does not exist creates it, private and owned by the user', async () => {
    t = await makeEnv({ patches: 8 });
    const [a, b] = patchesOf(t);
    await sync(await fresh());
    await t.notmuch.tag([{ msgid: msgidOf(t, a!), add: ['pw-skiboot-bundle-next'], remove: [] }, { msgid: msgidOf(t, b!), add: ['pw-skiboot-bundle-next'], remove: [] }]);
    const mark = t.sandbox.log.length;
    const r = await sync(await fresh());
    expect(r.ok, JSON.stringify(r.projects[0])).to.equal(true);
    expect(writes(mark).map((x) => x.method)).to.deep.equal(['POST']);
    const made = bundle('next')!;
    expect(made).to.include({ owner: t.maint.id, public: false });
    expect([...made.patches].sort((x, y) => x - y)).to.deep.equal([a!, b!]);
    expect(await bundleTags(a!)).to.deep.equal([FAMILY, 'pw-skiboot-bundle-next']);
  });

  describe('a tag naming no bundle, when it cannot be created', () => {
    const posts = (from: number) => writes(from).filter((x) => x.method === 'POST');
    const queued = (r: Awaited<ReturnType<typeof sync>>) => r.projects[0]!.queued.map((q) => [q.msgid, q.local, q.reason]);
    const refused = (r: Awaited<ReturnType<typeof sync>>) => r.projects[0]!.refused.map((q) => [q.msgid, q.local, q.reason]);

    it('a name a tag cannot hold safely is refused, nothing is sent, the tag stays', async () => {
      t = await makeEnv({ patches: 8 });
      const [a] = patchesOf(t);
      await sync(await fresh());
      await t.notmuch.tag([{ msgid: msgidOf(t, a!), add: ['pw-skiboot-bundle-to:do'], remove: [] }]);
      const mark = t.sandbox.log.length;
      const r = await sync(await fresh());
      expect(posts(mark)).to.deep.equal([]);
      expect(refused(r)).to.deep.equal([[msgidOf(t, a!), '+bundle to:do', "pw-skiboot-bundle-to:do names no bundle, and a new bundle's name in a tag may hold only letters, digits, . _ + -"]]);
      expect(t.sandbox.data.bundles).to.deep.equal([]);
      expect(await t.tags(msgidOf(t, a!))).to.include('pw-skiboot-bundle-to:do');
    });

    it('a message that is no known patch is refused; the bundle is made of the patches only', async () => {
      t = await makeEnv({ patches: 8 });
      const [a] = patchesOf(t);
      await t.addMail('not-a-patch@example.org', { subject: 'Re: a question' });
      await sync(await fresh());
      await t.notmuch.tag([{ msgid: msgidOf(t, a!), add: ['pw-skiboot-bundle-mixed'], remove: [] }, { msgid: 'not-a-patch@example.org', add: ['pw-skiboot-bundle-mixed'], remove: [] }]);
      const mark = t.sandbox.log.length;
      const r = await sync(await fresh());
      expect(posts(mark)).to.have.length(1);
      expect(refused(r)).to.deep.equal([['not-a-patch@example.org', '+bundle mixed', 'not a patch of skiboot that pwnm-sync knows']]);
      expect(bundle('mixed')!.patches).to.deep.equal([a!]);
    });

    it('tag_bundles = all without me (and none to learn): the tag waits in pending, nothing is created', async () => {
      t = await makeEnv({ patches: 8 });
      const [a, b] = patchesOf(t);
      t.sandbox.data.addBundle({ owner: t.user.id, name: 'theirs', public: true, patches: [b!] });
      await sync(await fresh('', 'tag_bundles = all\n'));
      await t.notmuch.tag([{ msgid: msgidOf(t, a!), add: ['pw-skiboot-bundle-mine'], remove: [] }]);
      const mark = t.sandbox.log.length;
      const r = await sync(await fresh('', 'tag_bundles = all\n'));
      const why = 'bundle tags off for sandbox: set me = USERNAME in [instance sandbox] (or [Defaults]), or make one private bundle on Patchwork';
      expect(posts(mark)).to.deep.equal([]);
      expect(queued(r)).to.deep.equal([[msgidOf(t, a!), '+bundle mine', why]]);
      expect(bundle('mine')).to.equal(undefined);
      expect(listPending(s!).map((p) => [p.kind, p.messageId, p.reason])).to.deep.equal([['bundle', msgidOf(t, a!), why]]);
    });

    it('a dry run creates nothing and says so', async () => {
      t = await makeEnv({ patches: 8 });
      const [a] = patchesOf(t);
      await sync(await fresh());
      await t.notmuch.tag([{ msgid: msgidOf(t, a!), add: ['pw-skiboot-bundle-later'], remove: [] }]);
      const mark = t.sandbox.log.length;
      const r = await sync(await fresh(), { dryRun: true });
      expect(posts(mark)).to.deep.equal([]);
      expect(queued(r)).to.deep.equal([[msgidOf(t, a!), '+bundle later', 'dry run: not created']]);
      expect(await bundleTags(a!)).to.deep.equal(['pw-skiboot-bundle-later']);
      // The real sync then creates it.
      await sync(await fresh());
      expect(bundle('later')!.patches).to.deep.equal([a!]);
    });

    it('a passing failure (503) keeps the tag waiting, and the next sync creates the bundle', async () => {
      t = await makeEnv({ patches: 8 });
      const [a] = patchesOf(t);
      await sync(await fresh());
      await t.notmuch.tag([{ msgid: msgidOf(t, a!), add: ['pw-skiboot-bundle-retry'], remove: [] }]);
      t.sandbox.faults.push({ method: 'POST', path: /\/bundles\/$/, times: Infinity, status: 503, body: '{"detail":"down for maintenance"}' });
      const r = await sync(await fresh());
      expect(queued(r)).to.have.length(1);
      expect(queued(r)[0]!.slice(0, 2)).to.deep.equal([msgidOf(t, a!), '+bundle retry']);
      expect(queued(r)[0]![2]).to.match(/^sandbox: POST \/api\/1\.3\/bundles\/ answered 503 .*; tried again next sync$/);
      expect(r.projects[0]!.refused).to.deep.equal([]);
      expect(t.sandbox.data.bundles).to.deep.equal([]);
      t.sandbox.faults = [];
      const r2 = await sync(await fresh());
      expect(r2.ok, JSON.stringify(r2.projects[0])).to.equal(true);
      expect(bundle('retry')!.patches).to.deep.equal([a!]);
      expect(await bundleTags(a!)).to.deep.equal([FAMILY, 'pw-skiboot-bundle-retry']);
    });

    it('a name over Patchwork\'s 50 characters is refused by Patchwork, naming instance and project; the tag stays', async () => {
      t = await makeEnv({ patches: 8 });
      const [a] = patchesOf(t);
      await sync(await fresh());
      const name = 'n'.repeat(51);
      await t.notmuch.tag([{ msgid: msgidOf(t, a!), add: [`pw-skiboot-bundle-${name}`], remove: [] }]);
      const r = await sync(await fresh());
      // Patchwork 3.1.3's words (test/fixtures/patchwork-3.1.3/NOTES.md, section 7).
      expect(refused(r)).to.deep.equal([[msgidOf(t, a!), `+bundle ${name}`,
        `sandbox refused to create bundle ${name} in skiboot: POST /api/1.3/bundles/ was refused: name: Ensure this field has no more than 50 characters.`]]);
      expect(t.sandbox.data.bundles).to.deep.equal([]);
      expect(await t.tags(msgidOf(t, a!))).to.include(`pw-skiboot-bundle-${name}`);
    });
  });

  it('removing the tag from the last patch is reported and kept pending, never an empty write', async () => {
    t = await makeEnv({ patches: 8 });
    const [a, b] = patchesOf(t);
    t.sandbox.data.addBundle({ owner: t.maint.id, name: 'solo', public: false, patches: [a!] });
    await sync(await fresh());
    await t.notmuch.tag([{ msgid: msgidOf(t, a!), add: [], remove: ['pw-skiboot-bundle-solo'] }]);
    for (let i = 0; i < 2; i++) {
      const mark = t.sandbox.log.length;
      const r = await sync(await fresh());
      expect(writes(mark)).to.deep.equal([]);
      expect(r.ok).to.equal(false);
      expect(r.projects[0]!.queued.map((q) => [q.msgid, q.reason])).to.deep.equal([[msgidOf(t, a!), 'bundle solo would be empty, and Patchwork keeps no empty bundle: tag another patch, or delete it with pwnm-sync bundle delete solo']]);
      expect(bundle('solo')!.patches).to.deep.equal([a!]);
      expect(await bundleTags(a!)).to.deep.equal([]);
    }
    // Tagging another patch settles it: one write with b only.
    await t.notmuch.tag([{ msgid: msgidOf(t, b!), add: ['pw-skiboot-bundle-solo'], remove: [] }]);
    const r = await sync(await fresh());
    expect(r.ok, JSON.stringify(r.projects[0])).to.equal(true);
    expect(bundle('solo')!.patches).to.deep.equal([b!]);
  });

  it('someone else\'s bundle (tag_bundles = all) is tagged but never written: the change is reported and the tag goes back', async () => {
    t = await makeEnv({ patches: 8 });
    const [a, b] = patchesOf(t);
    t.sandbox.data.addBundle({ owner: t.user.id, name: 'theirs', public: true, patches: [a!] });
    t.sandbox.data.addBundle({ owner: t.user.id, name: 'hidden', public: false, patches: [b!] });
    await sync(await fresh('me = maint\n', 'tag_bundles = all\n'));
    expect(await tagged()).to.deep.equal({ [msgidOf(t, a!)]: [FAMILY, 'pw-skiboot-bundle-theirs'] });
    await t.notmuch.tag([{ msgid: msgidOf(t, b!), add: ['pw-skiboot-bundle-theirs'], remove: [] }]);
    const mark = t.sandbox.log.length;
    const r = await sync(await fresh('me = maint\n', 'tag_bundles = all\n'));
    expect(writes(mark)).to.deep.equal([]);
    expect(r.projects[0]!.refused.map((x) => [x.msgid, x.reason])).to.deep.equal([[msgidOf(t, b!), 'bundle theirs belongs to user: only its owner may change it; the tag goes back']]);
    expect(await bundleTags(b!)).to.deep.equal([]);
    // With the default (mine), other users' bundles are no tags at all, and their tags going is no new bundle.
    const before = t.sandbox.log.length;
    await sync(await fresh());
    expect(await tagged()).to.deep.equal({});
    expect(writes(before)).to.deep.equal([]);
  });

  it('read-only (no token): nothing is written, the local change is reported and kept', async () => {
    t = await makeEnv({ patches: 8, token: 'none' });
    const [a] = patchesOf(t);
    t.sandbox.data.addBundle({ owner: t.maint.id, name: 'shown', public: true, patches: [a!] });
    await sync(await fresh());
    expect(await bundleTags(a!)).to.deep.equal([FAMILY, 'pw-skiboot-bundle-shown']);
    const [, b] = patchesOf(t);
    await t.notmuch.tag([{ msgid: msgidOf(t, b!), add: ['pw-skiboot-bundle-shown'], remove: [] }, { msgid: msgidOf(t, a!), add: ['pw-skiboot-bundle-new-one'], remove: [] }]);
    for (let i = 0; i < 2; i++) {
      const mark = t.sandbox.log.length;
      const r = await sync(await fresh());
      expect(t.sandbox.log.slice(mark).filter((x) => x.method !== 'GET')).to.deep.equal([]);
      expect(r.projects[0]!.queued.map((q) => q.msgid).sort()).to.deep.equal([msgidOf(t, a!), msgidOf(t, b!)].sort());
      expect(r.projects[0]!.queued[0]!.reason).to.match(/^read-only: no token for sandbox/);
      expect(await bundleTags(b!)).to.deep.equal([FAMILY, 'pw-skiboot-bundle-shown']);
    }
  });

  it('without a token a private bundle is hidden, not gone: its tags stay and a local change waits for the token', async () => {
    t = await makeEnv({ patches: 8 });
    const [a, b] = patchesOf(t);
    t.sandbox.data.addBundle({ owner: t.maint.id, name: 'private-one', public: false, patches: [a!] });
    await sync(await fresh());
    expect(await bundleTags(a!)).to.deep.equal([FAMILY, 'pw-skiboot-bundle-private-one']);
    await t.notmuch.tag([{ msgid: msgidOf(t, b!), add: ['pw-skiboot-bundle-private-one'], remove: [] }]);
    // The token line goes from the config: Patchwork now lists public bundles only.
    const file = t.writeConfig('me = maint\n');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^token = .*\n/m, ''));
    await s?.close();
    s = t.session();
    await sync(s);
    expect(await bundleTags(a!)).to.deep.equal([FAMILY, 'pw-skiboot-bundle-private-one']);
    expect(await bundleTags(b!)).to.deep.equal([FAMILY, 'pw-skiboot-bundle-private-one']);
    // The token is back: the local change made meanwhile is written.
    await sync(await fresh());
    expect(bundle('private-one')!.patches).to.deep.equal([a!, b!]);
  });

  it('a bundle moved to another project on Patchwork: its tags follow it, nothing is written or created', async () => {
    t = await makeEnv({ patches: 8 });
    const [, , c] = patchesOf(t);
    // Project stable holds patch c's mail too (cross-posted), as its own patch.
    const stable = t.sandbox.data.addProject({ link_name: 'stable', list_email: 'stable@lists.ozlabs.org', maintainers: [t.maint.id] });
    const shared = t.sandbox.data.patches.get(c!)!;
    const c2 = t.sandbox.data.addPatch({ project: stable.id, msgid: shared.msgid, name: shared.name, submitter: shared.submitter, date: shared.date, state: 'new' });
    writeFileSync(t.configFile, readFileSync(t.configFile, 'utf8').replace('sync = skiboot=skiboot@lists.ozlabs.org', 'sync = skiboot=skiboot@lists.ozlabs.org, stable'));
    const bun = t.sandbox.data.addBundle({ owner: t.maint.id, name: 'travel', public: false, patches: [c!] });
    const again = async () => { await s?.close(); s = t.session(); return sync(s); };
    await again();
    expect(await bundleTags(c!)).to.deep.equal([FAMILY, 'pw-skiboot-bundle-travel']);
    await again(); // settled: notmuch unchanged since, so only the listing can show the move
    // On Patchwork a PATCH with another project's patches moves the bundle there (NOTES.md, section 7).
    bun.patches = [c2.id];
    bun.project = stable.id;
    const mark = t.sandbox.log.length;
    const r = await again();
    expect(r.ok, JSON.stringify(r.projects)).to.equal(true);
    expect(r.projects[0]!.notes).to.deep.equal(['bundle travel moved from skiboot to stable on Patchwork: its tags follow it']);
    expect(writes(mark)).to.deep.equal([]);
    expect(t.sandbox.data.bundles.map((b) => [b.name, b.project, b.patches])).to.deep.equal([['travel', stable.id, [c2.id]]]);
    // The same mail in both projects: the move alone must be seen.
    const cTags = await t.tags(msgidOf(t, c!));
    expect(cTags.filter((x) => x.includes('-bundle'))).to.deep.equal(['pw-stable-bundle', 'pw-stable-bundle-travel']);
    // Settled: the next sync writes and retags nothing.
    const settled = await again();
    expect(settled.projects.map((p) => p.retagged)).to.deep.equal([0, 0]);
  });

  it('hostile bundle names give safe tags and never tag other messages', async () => {
    t = await makeEnv({ patches: 8 });
    const [a, b, c] = patchesOf(t);
    // Patchwork keeps at most 50 characters: the longest name it can hold, non-ASCII and ASCII.
    const long = `${'é'.repeat(25)}${'x'.repeat(25)}`;
    t.sandbox.data.addBundle({ owner: t.maint.id, name: 'a "q" 50% ünï', public: false, patches: [a!] });
    t.sandbox.data.addBundle({ owner: t.maint.id, name: 'x" or tag:inbox or "', public: false, patches: [b!] });
    t.sandbox.data.addBundle({ owner: t.maint.id, name: long, public: false, patches: [c!] });
    const r = await sync(await fresh());
    expect(r.ok, JSON.stringify(r.projects[0])).to.equal(true);
    // The README's rule: anything but letters, digits, . _ + - is _ (one per character, é too); 50 characters are never cut.
    expect(await tagged()).to.deep.equal({
      [msgidOf(t, a!)]: [FAMILY, 'pw-skiboot-bundle-a__q__50___n_'],
      [msgidOf(t, b!)]: [FAMILY, 'pw-skiboot-bundle-x__or_tag_inbox_or__'],
      [msgidOf(t, c!)]: [FAMILY, `pw-skiboot-bundle-${'_'.repeat(25)}${'x'.repeat(25)}`],
    });
    // A second sync changes nothing and writes nothing.
    const mark = t.sandbox.log.length;
    const again = await sync(await fresh());
    expect(again.ok).to.equal(true);
    expect(writes(mark)).to.deep.equal([]);
    expect(Object.keys(await tagged())).to.have.length(3);
  });
});
