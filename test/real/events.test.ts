import { expect } from 'chai';
import { join } from 'node:path';
import Database from '../../server/store/sqlite.js';
import { makeRealEnv, patchMsgids, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// Incremental syncs read real Patchwork's event log: state changes,
// checks, delegations and new series (a v2 resend of the same series,
// made by the same generator with versionBump), with supersede both off
// and on.

describe('real Patchwork: events-based incremental sync', function () {
  this.timeout(60_000);
  let pw: RealPatchwork;
  let t: RealEnv | undefined;
  before(async function () { pw = await needRealPatchwork(this); });
  afterEach(async () => { await t?.cleanup(); t = undefined; });

  async function synced(options: { global?: string; instance?: string } = {}): Promise<{ t: RealEnv; ids: string[] }> {
    t = await makeRealEnv(pw, { patches: 8 });
    // This counts event and archive-check requests: bundles (a token, no me) cost one listing more (issue 27).
    t.writeConfig({ ...options, global: `${options.global ?? ''}\ntag_bundles = off` });
    expect((await t.sync()).exitCode).to.equal(0);
    return { t, ids: patchMsgids(t.mails) };
  }

  /** The event mark the last sync stored: the server's time, naive UTC. */
  function markOf(t: RealEnv): string {
    const db = new Database(join(t.dir, 'state.db'), { readonly: true });
    try {
      return (db.prepare('SELECT event_mark FROM projects').get() as { event_mark: string }).event_mark;
    } finally {
      db.close();
    }
  }
  const secondsBefore = (mark: string, s: number): string => new Date(Date.parse(`${mark}Z`) - s * 1000).toISOString().slice(0, 19);
  /** The number of the project's events (a page of one: its page count). */
  async function eventCount(t: RealEnv): Promise<number> {
    const r = await fetch(`${pw.url}/api/1.3/events/?project=${t.projectId}&per_page=1`);
    return Number(/[?&]page=(\d+)[^>]*>; rel="last"/.exec(r.headers.get('link') ?? '')?.[1] ?? 0);
  }
  /** Set a patch's state through the API, its event dated `date` as if committed late. */
  async function changeState(t: RealEnv, msgid: string, state: string, date: string): Promise<void> {
    await t.setState(msgid, state);
    const newest = await t.api<{ id: number }[]>('GET', `events/?project=${t.projectId}&category=patch-state-changed&per_page=1`);
    await pw.admin('redate_events', { ids: [newest.body[0]!.id], date });
  }

  it('marks the server\'s time at the start of a full sync, and does not read older events again: one request, and the archive check', async () => {
    t = await makeRealEnv(pw, { patches: 8 });
    // This counts event and archive-check requests: bundles (a token, no me) cost one listing more (issue 27).
    t.writeConfig({ global: 'tag_bundles = off' });
    const before = new Date().toISOString().slice(0, 19);
    await pw.admin('redate_events', { project: t.projectId, date: secondsBefore(before, 60) }); // mail imported a minute ago
    expect((await t.sync()).exitCode).to.equal(0);
    // The Date header of the sync's first events answer: whole seconds, not the newest event's date.
    const mark = markOf(t);
    expect(mark).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(mark >= before && mark <= new Date().toISOString().slice(0, 19), `${mark} after ${before}`).to.equal(true);
    const { p } = await t.sync();
    expect(p.mode).to.equal('events');
    expect(p.fetched).to.equal(0);
    expect(p.httpRequests).to.equal(2); // the events, the archive check
  });

  it('costs one request and the archive check for a sync with nothing new right after a bulk import, and still sees a late event', async () => {
    t = await makeRealEnv(pw, { patches: 150 });
    // This counts event and archive-check requests: bundles (a token, no me) cost one listing more (issue 27).
    t.writeConfig({ global: 'tag_bundles = off' });
    // As a fast import leaves them: every event in the second before the first sync.
    await pw.admin('redate_events', { project: t.projectId });
    expect(await eventCount(t)).to.be.above(250);
    expect((await t.sync()).p.mode).to.equal('full');
    for (let i = 0; i < 2; i++) {
      const { p } = await t.sync();
      expect([p.mode, p.httpRequests, p.eventsRead, p.fetched]).to.deep.equal(['events', 2, 0, 0]);
    }
    // Dated 2 s before the mark, committed after that sync read the log.
    const ids = patchMsgids(t.mails);
    await changeState(t, ids[0]!, 'accepted', secondsBefore(markOf(t), 2));
    const { p } = await t.sync();
    expect(p.fetched).to.equal(0);
    expect(await t.stateTags(ids[0]!)).to.deep.equal([`pw-${t.link}-accepted`]);
  });

  it('sees a change dated in the same second as the mark, and one dated inside the window before it', async () => {
    const { t, ids } = await synced();
    await changeState(t, ids[0]!, 'accepted', `${markOf(t)}.000000`);
    let { p } = await t.sync();
    expect([p.httpRequests, p.retagged]).to.deep.equal([2, 1]);
    expect(await t.stateTags(ids[0]!)).to.deep.equal([`pw-${t.link}-accepted`]);
    await changeState(t, ids[1]!, 'rejected', `${secondsBefore(markOf(t), 4)}.999999`);
    ({ p } = await t.sync());
    expect([p.httpRequests, p.retagged]).to.deep.equal([2, 1]);
    expect(await t.stateTags(ids[1]!)).to.deep.equal([`pw-${t.link}-rejected`]);
  });

  it('picks up a check posted through the API as a check tag', async () => {
    const { t, ids } = await synced();
    const id = (await t.patch(ids[0]!)).id;
    const post = await t.api('POST', `patches/${id}/checks/`, 'maint', { state: 'fail', context: 'ci-build', target_url: 'https://ci.example.org/1', description: 'build failed' });
    expect(post.status).to.equal(201);
    const { p } = await t.sync();
    expect(p.mode).to.equal('events');
    expect((await t.patch(ids[0]!)).check).to.equal('fail');
    expect(await t.tags(ids[0]!)).to.include(`pw-${t.link}-check-fail`);
  });

  it('follows the combined check as more checks arrive: warning, then success everywhere', async () => {
    const { t, ids } = await synced();
    const id = (await t.patch(ids[1]!)).id;
    await t.api('POST', `patches/${id}/checks/`, 'maint', { state: 'warning', context: 'lint' });
    await t.sync();
    expect((await t.patch(ids[1]!)).check).to.equal('warning');
    expect(await t.tags(ids[1]!)).to.include(`pw-${t.link}-check-warning`);
    await t.api('POST', `patches/${id}/checks/`, 'maint', { state: 'success', context: 'lint' });
    await t.sync();
    const check = (await t.patch(ids[1]!)).check;
    expect(check).to.equal('success');
    const tags = await t.tags(ids[1]!);
    expect(tags).to.include(`pw-${t.link}-check-success`);
    expect(tags).not.to.include(`pw-${t.link}-check-warning`);
  });

  it('shows no check tag for a pending check', async () => {
    const { t, ids } = await synced();
    await t.api('POST', `patches/${(await t.patch(ids[2]!)).id}/checks/`, 'maint', { state: 'pending', context: 'ci' });
    await t.sync();
    expect((await t.patch(ids[2]!)).check).to.equal('pending');
    expect((await t.tags(ids[2]!)).filter((x) => x.includes('-check-'))).to.deep.equal([]);
  });

  it('tags a patch delegated to me, and untags it when the delegation goes', async () => {
    const { t, ids } = await synced({ instance: 'me = maint\n' });
    const id = (await t.patch(ids[3]!)).id;
    expect((await t.api('PATCH', `patches/${id}/`, 'maint', { delegate: pw.maint.id })).status).to.equal(200);
    const { p } = await t.sync();
    expect(p.mode).to.equal('events');
    expect(await t.tags(ids[3]!)).to.include(`pw-${t.link}-delegated`);
    expect((await t.api('PATCH', `patches/${id}/`, 'maint', { delegate: null })).status).to.equal(200);
    await t.sync();
    expect(await t.tags(ids[3]!)).not.to.include(`pw-${t.link}-delegated`);
  });

  it('tags a new series version from its events and leaves v1 alone when supersede is off', async () => {
    const { t, ids } = await synced();
    const v2 = patchMsgids(await t.addMail({ patches: 8, seed: 5, versionBump: 1, newest: new Date(Date.UTC(2026, 10, 2)) }, 'v2'));
    const { p } = await t.sync();
    expect(p.mode).to.equal('events');
    expect(p.fetched).to.equal(8);
    for (const id of v2) expect(await t.stateTags(id), id).to.deep.equal([`pw-${t.link}-new`]);
    for (const id of ids) expect((await t.patch(id)).state).to.equal('new');
  });

  it('supersedes the older version when supersede_older_series is on', async () => {
    const { t, ids } = await synced({ global: 'supersede_older_series = true\n' });
    await t.setState(ids[0]!, 'accepted');
    await t.sync();
    await t.addMail({ patches: 8, seed: 5, versionBump: 1, newest: new Date(Date.UTC(2026, 10, 2)) }, 'v2');
    const { p } = await t.sync();
    expect(p.errors).to.deep.equal([]);
    const server = await t.patches();
    const v1 = server.filter((x) => ids.includes(x.msgid.slice(1, -1)));
    // Every v1 patch is superseded except the accepted one, which stays.
    expect(v1.find((x) => x.msgid === `<${ids[0]!}>`)!.state).to.equal('accepted');
    expect(v1.filter((x) => x.msgid !== `<${ids[0]!}>`).map((x) => x.state)).to.deep.equal(Array(7).fill('superseded'));
    expect(p.pushed).to.equal(7);
    for (const id of ids.slice(1)) expect(await t.stateTags(id), id).to.deep.equal([`pw-${t.link}-superseded`]);
  });
});
