import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox } from '../server/sandbox/server.js';
import { RECORDINGS } from './helpers.js';

// Where the real Patchwork 3.1.3 of test/real showed the sandbox wrong:
// who may edit a patch, check dates, and the events a mail import makes.

describe('sandbox follows the real Patchwork', function () {
  let sb: Sandbox;
  beforeEach(async () => { sb = new Sandbox(); await sb.start(); });
  afterEach(() => sb.stop());

  function world() {
    const d = sb.data;
    const maint = d.addUser({ username: 'maint', token: 'maint-token-0123456789' });
    const grace = d.addUser({ username: 'grace', token: 'grace-token-0123456789' });
    const project = d.addProject({ link_name: 'p', list_email: 'p@example.org', maintainers: [maint.id] });
    const person = d.addPerson('Grace', 'grace@example.org');
    person.user = grace.id;
    const other = d.addPerson('Other', 'other@example.org');
    const mine = d.addPatch({ project: project.id, msgid: '<mine@x>', name: 'mine', submitter: person.id });
    const theirs = d.addPatch({ project: project.id, msgid: '<theirs@x>', name: 'theirs', submitter: other.id });
    return { maint, grace, project, mine, theirs };
  }
  const patch = (id: number, token: string, body: unknown) => fetch(`${sb.url}/api/1.3/patches/${id}/`, {
    method: 'PATCH', headers: { authorization: `Token ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });

  it('lets the submitter\'s own account change its patch, and nobody else\'s (Patch.is_editable)', async () => {
    const w = world();
    expect((await patch(w.mine.id, 'grace-token-0123456789', { state: 'rfc' })).status).to.equal(200);
    expect(sb.data.patches.get(w.mine.id)!.state).to.equal('rfc');
    expect((await patch(w.theirs.id, 'grace-token-0123456789', { state: 'rfc' })).status).to.equal(403);
  });

  it('answers Connection: close, as gunicorn\'s sync workers do', async () => {
    world();
    const r = await fetch(`${sb.url}/api/1.3/patches/`);
    await r.text();
    expect(r.headers.get('connection')).to.equal('close');
  });

  it('keeps a list between its pages only when asked (the benchmark), and filters afresh from page 1', async () => {
    const w = world();
    const ids = async (page: number): Promise<number[]> => ((await (await fetch(`${sb.url}/api/1.0/patches/?project=${w.project.id}&archived=false&order=id&per_page=1&page=${page}`)).json()) as { id: number }[]).map((p) => p.id);
    expect(await ids(1)).to.deep.equal([w.mine.id]);
    w.mine.archived = true;
    // As the real server: page 2 of the list as it is now (one patch left, so no page 2).
    expect((await fetch(`${sb.url}/api/1.0/patches/?project=${w.project.id}&archived=false&order=id&per_page=1&page=2`)).status).to.equal(404);
    w.mine.archived = false;
    sb.keepLists = true;
    expect(await ids(1)).to.deep.equal([w.mine.id]);
    w.mine.archived = true;
    expect(await ids(2)).to.deep.equal([w.theirs.id]);
    expect(await ids(1)).to.deep.equal([w.theirs.id]);
  });

  it('dates checks naive, with microseconds, as the recorded server does', () => {
    const w = world();
    const recorded = (JSON.parse(readFileSync(join(RECORDINGS, 'check-create-success-201.json'), 'utf8')) as { date: string }).date;
    const c = sb.data.addCheck(w.mine.id, w.maint.id, { state: 'success', context: 'ci' });
    const digitsToD = (s: string): string => s.replace(/\d/g, 'd');
    expect(digitsToD(c.date)).to.equal(digitsToD(recorded));
  });

  it('makes the events of a real import: series created, patch created and completed, series completed', () => {
    const { project } = world();
    const d = sb.data;
    const before = d.events.length;
    const series = d.addSeries({ project: project.id, name: 'core: fix', version: 1, date: '2026-11-01T00:00:00', total: 2, submitter: 1, cover: null });
    d.addPatch({ project: project.id, msgid: '<s1@x>', name: '[1/2] core: fix', submitter: 1, series: series.id });
    d.addPatch({ project: project.id, msgid: '<s2@x>', name: '[2/2] core: fix', submitter: 1, series: series.id });
    expect(d.events.slice(before).map((e) => e.category)).to.deep.equal([
      'series-created', 'patch-created', 'patch-completed', 'patch-created', 'patch-completed', 'series-completed',
    ]);
  });
});
