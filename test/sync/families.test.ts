import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { counts } from '../../server/ops/counts.js';
import { sync } from '../../server/sync/engine.js';
import { setDelegate } from '../../server/ops/delegate.js';
import { setState } from '../../server/ops/set-state.js';
import { makeEnv, msgidOf, patchesOf, RECORDINGS, type TestEnv } from '../helpers.js';

// Beyond states: CI checks, archived, delegation and series.

describe('tag families and series', function () {
  this.timeout(60_000);
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));
  const family = async (id: number, re: RegExp): Promise<string[]> => (await t.tags(msgidOf(t, id))).filter((x) => re.test(x));

  /** A CI bot's result, posted as a bot posts it: POST /api/1.3/patches/ID/checks/ with a maintainer's token. */
  async function postCheck(id: number, state: string, context: string): Promise<void> {
    const res = await fetch(`${t.sandbox.url}/api/1.3/patches/${id}/checks/`, {
      method: 'POST',
      headers: { authorization: `Token ${t.maint.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state, context, target_url: `https://ci.example.org/${context}/${id}`, description: `${context} ${state}` }),
    });
    expect(res.status, await res.text()).to.equal(201);
  }

  it('posting a check answers as Patchwork 3.1.3 did (the recorded check-create responses)', async () => {
    t = await makeEnv({ patches: 1 });
    const id = patchesOf(t)[0]!;
    const recorded = (name: string): unknown => JSON.parse(readFileSync(join(RECORDINGS, `${name}.json`), 'utf8'));
    const post = async (name: string, token: string | undefined): Promise<[number, unknown]> => {
      const body = readFileSync(join(RECORDINGS, `${name}.req`), 'utf8').split('\n\n').slice(1).join('\n\n').trim();
      const res = await fetch(`${t.sandbox.url}/api/1.3/patches/${id}/checks/`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Token ${token}` } : {}) }, body });
      return [res.status, await res.json()];
    };
    for (const [name, token] of [['check-create-bad-state-400', t.maint.token], ['check-create-no-state-400', t.maint.token], ['check-create-context-with-slash-400', t.maint.token], ['check-create-nonmaintainer-403', t.user.token], ['check-create-anonymous-403', undefined]] as const) {
      expect(await post(name, token), name).to.deep.equal([Number(name.slice(-3)), recorded(name)]);
    }
    const [status, check] = await post('check-create-fail-201', t.maint.token);
    expect(status).to.equal(201);
    expect(Object.keys(check as object)).to.deep.equal(Object.keys(recorded('check-create-fail-201') as object));
  });

  it('tags the combined CI check, and follows new checks incrementally', async () => {
    t = await makeEnv({ patches: 6 });
    // This counts event and archive-check requests: bundles (a token, no me) cost one listing more (issue 27).
    t.writeConfig('', 'tag_bundles = off');
    const [a, b, c] = patchesOf(t);
    // Real checks, as CI posts them. Patchwork combines the newest per context: any fail is fail.
    await postCheck(a!, 'success', 'ci-build');
    await postCheck(a!, 'fail', 'ci-test');
    await postCheck(b!, 'success', 'ci-build');
    const s = t.session();
    await sync(s);
    expect(await family(a!, /-check-/)).to.deep.equal(['pw-skiboot-check-fail']);
    expect(await family(b!, /-check-/)).to.deep.equal(['pw-skiboot-check-success']);
    expect(await family(c!, /-check-/)).to.deep.equal([]); // no checks: pending, no tag
    await postCheck(c!, 'warning', 'ci-build');
    // A rerun of a's failed context passes: the newest result per context counts, so a is success now.
    await postCheck(a!, 'success', 'ci-test');
    const mark = t.sandbox.log.length;
    const p = (await sync(s)).projects[0]!;
    expect(p.mode).to.equal('events');
    expect(t.sandbox.log.length - mark).to.equal(4); // the events, one GET per patch with a new check, the archive check
    expect(await family(c!, /-check-/)).to.deep.equal(['pw-skiboot-check-warning']);
    expect(await family(a!, /-check-/)).to.deep.equal(['pw-skiboot-check-success']);
    await s.close();
  });

  it('tags archived patches and pushes archiving done in notmuch; server archiving is seen by the next sync', async () => {
    t = await makeEnv({ patches: 6 });
    const [a, b, c] = patchesOf(t);
    t.sandbox.data.patches.get(a!)!.archived = true;
    const s = t.session();
    await sync(s);
    expect(await family(a!, /-archived$/)).to.deep.equal(['pw-skiboot-archived']);
    expect(await family(b!, /-archived$/)).to.deep.equal([]);
    await t.notmuch.tag([{ msgid: msgidOf(t, b!), add: ['pw-skiboot-archived'], remove: [] }]);
    const pushed = (await sync(s)).projects[0]!;
    expect(pushed.pushed).to.equal(1);
    expect(t.sandbox.data.patches.get(b!)!.archived).to.equal(true);
    await t.notmuch.tag([{ msgid: msgidOf(t, a!), add: [], remove: ['pw-skiboot-archived'] }]);
    await sync(s);
    expect(t.sandbox.data.patches.get(a!)!.archived).to.equal(false);
    // Patchwork makes no event for archiving: the archive check of an incremental sync sees it.
    t.sandbox.data.patches.get(c!)!.archived = true;
    expect((await sync(s)).projects[0]!.mode).to.equal('events');
    expect(await family(c!, /-archived$/)).to.deep.equal(['pw-skiboot-archived']);
    await s.close();
  });

  it('tags patches delegated to me, and every delegate when asked', async () => {
    t = await makeEnv({ patches: 6 });
    t.writeConfig('me = maint\n', 'tag_delegates = true\n');
    const [a, b] = patchesOf(t);
    const s = t.session();
    await sync(s);
    t.sandbox.data.setDelegate(a!, t.maint.id, t.maint.id);
    const mark = t.sandbox.log.length;
    await sync(s);
    // The event says who (the bundle listing that `me` turns on is counted in test/sync/bundles.test.ts).
    expect(t.sandbox.log.slice(mark).filter((r) => !r.url.includes('/bundles/')).length).to.equal(2); // with the archive check
    expect(await family(a!, /-delegate/)).to.deep.equal(['pw-skiboot-delegate-maint', 'pw-skiboot-delegated']);
    // And from here: delegate b to me, then clear a.
    expect((await setDelegate(s, msgidOf(t, b!), undefined))[0]!.outcome).to.equal('delegated');
    expect(t.sandbox.data.patches.get(b!)!.delegate).to.equal(t.maint.id);
    expect(await family(b!, /-delegate/)).to.deep.equal(['pw-skiboot-delegate-maint', 'pw-skiboot-delegated']);
    await setDelegate(s, msgidOf(t, a!), null);
    expect(await family(a!, /-delegate/)).to.deep.equal([]);
    expect(t.sandbox.data.patches.get(a!)!.delegate).to.equal(null);
    const [status] = await counts(s);
    expect(status!.families.find((f) => f.name === 'delegated')!.count).to.equal(1);
    await s.close();
  });

  it('sets the state of a whole series', async () => {
    t = await makeEnv({ patches: 30, stateMix: false });
    const s = t.session();
    await sync(s);
    const bySeries = new Map<number, number[]>();
    for (const id of patchesOf(t)) {
      const series = t.sandbox.data.patches.get(id)!.series!;
      bySeries.set(series, [...(bySeries.get(series) ?? []), id]);
    }
    const members = [...bySeries.values()].find((ids) => ids.length >= 3)!;
    const results = await setState(s, msgidOf(t, members[1]!), 'changes-requested', { series: true });
    expect(results.map((r) => r.outcome)).to.deep.equal(members.map(() => 'pushed'));
    for (const id of members) {
      expect(t.sandbox.data.patches.get(id)!.state).to.equal('changes-requested');
      expect(await family(id, /^pw-skiboot-[a-z-]+$/)).to.include('pw-skiboot-changes-requested');
    }
    const others = patchesOf(t).filter((id) => !members.includes(id));
    expect(others.every((id) => t.sandbox.data.patches.get(id)!.state === 'new')).to.equal(true);
    const stored = s.store.patch('sandbox', 'skiboot', msgidOf(t, members[1]!))!;
    expect([stored.series_part, stored.series_total]).to.deep.equal([2, members.length]);
    await s.close();
  });

  it('marks older versions of a series superseded when a newer one arrives (opt-in)', async () => {
    t = await makeEnv({ patches: 4 });
    t.writeConfig('', 'supersede_older_series = true\n');
    const d = t.sandbox.data;
    const dev = d.addPerson('Dev One', 'dev@example.org');
    const v1 = d.addSeries({ project: t.project.id, name: '[1/2] core: fix locking', version: 1, date: '2026-11-01T01:00:00', total: 2, submitter: dev.id, cover: null });
    const old = [1, 2].map((i) => d.addPatch({ project: t.project.id, msgid: `<v1.${i}@example.org>`, name: `[${i}/2] core: fix locking`, submitter: dev.id, date: '2026-11-01T01:00:00', series: v1.id }, true));
    const other = d.addPatch({ project: t.project.id, msgid: '<other.1@example.org>', name: 'core: fix locking', submitter: d.addPerson('Someone Else', 'else@example.org').id, date: '2026-11-01T01:00:00', series: d.addSeries({ project: t.project.id, name: 'core: fix locking', version: 1, date: '2026-11-01T01:00:00', total: 1, submitter: 99, cover: null }).id }, true);
    for (const p of [...old, other]) await t.addMail(p.msgid.slice(1, -1), { date: new Date('2026-11-01T01:00:00Z') });
    const s = t.session();
    await sync(s);
    const v2 = d.addSeries({ project: t.project.id, name: '[v2,1/2] core: fix locking', version: 2, date: '2026-11-02T01:00:00', total: 2, submitter: dev.id, cover: null });
    for (const i of [1, 2]) d.addPatch({ project: t.project.id, msgid: `<v2.${i}@example.org>`, name: `[v2,${i}/2] core: fix locking`, submitter: dev.id, date: '2026-11-02T01:00:00', series: v2.id });
    const p = (await sync(s)).projects[0]!;
    expect(p.notes.filter((n) => /superseded by series/.test(n))).to.have.length(2);
    for (const o of old) {
      expect(d.patches.get(o.id)!.state).to.equal('superseded');
      expect(await t.tags(o.msgid.slice(1, -1))).to.include('pw-skiboot-superseded');
    }
    expect(d.patches.get(other.id)!.state).to.equal('new'); // another submitter's series is not touched
    await s.close();
  });
});
