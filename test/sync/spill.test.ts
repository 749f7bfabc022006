import { expect } from 'chai';
import { sync, type SyncOptions } from '../../server/sync/engine.js';
import { makeEnv, msgidOf, patchesOf, type TestEnv } from '../helpers.js';

// A first sync of a long history keeps the tags it read in SQLite, not in
// memory (server/store/message-tags.ts). Whether they spill must change
// nothing: two identical sandboxes and mailboxes, one synced with the
// spill forced on from the first message, one never spilling, must end
// with the same tags, the same state database and the same Patchwork.

interface Outcome {
  tags: [string, string[]][];
  patches: unknown[];
  pending: unknown[];
  server: [number, string, boolean][];
  summaries: unknown[];
}

describe('sync with the message tags spilled to SQLite', function () {
  this.timeout(300_000);
  const envs: TestEnv[] = [];
  afterEach(async () => {
    for (const t of envs.splice(0)) await t.cleanup();
  });

  /** The same story for each run: a first sync, local and server changes, mail found only by id, an incremental and a full sync. */
  async function story(spill: Pick<SyncOptions, 'spillAfter'>): Promise<Outcome> {
    const t = await makeEnv({ patches: 300 });
    envs.push(t);
    const ids = patchesOf(t);
    const data = t.sandbox.data;
    const other = (id: number): string => (data.patches.get(id)!.state === 'accepted' ? 'rejected' : 'accepted');
    const retag = (id: number, to: string) => ({ msgid: msgidOf(t, id), add: [`pw-skiboot-${to}`], remove: [`pw-skiboot-${data.patches.get(id)!.state}`] });
    // Mail that never went to the list: only a lookup by message-id finds it.
    const offList = (n: number): Promise<void> => {
      data.addPatch({ project: t.project.id, msgid: `<off-list.${n}@example.org>`, name: `off list ${n}`, submitter: 1, date: '2026-10-30T00:00:00', state: 'new' });
      return t.addMail(`off-list.${n}@example.org`, { to: 'someone@example.org', date: new Date(Date.UTC(2026, 9, 30)) });
    };
    await offList(1);
    // Tagged before the first sync: a local state with nothing agreed yet.
    await t.notmuch.tag([ids[10]!, ids[11]!].map((id) => retag(id, 'under-review')));
    const s = t.session();
    const summaries = [];
    summaries.push(await sync(s, spill));
    // Local changes (pushes), server changes (retags), more mail off the list.
    await t.notmuch.tag(ids.slice(20, 30).map((id) => retag(id, other(id))));
    for (const id of ids.slice(40, 50)) data.setState(id, other(id));
    for (const id of ids.slice(25, 28)) data.setState(id, 'changes-requested'); // changed on both sides
    await offList(2);
    summaries.push(await sync(s, spill));
    await t.notmuch.tag(ids.slice(60, 65).map((id) => retag(id, other(id))));
    for (const id of ids.slice(70, 75)) data.setState(id, other(id));
    summaries.push(await sync(s, { ...spill, full: true }));
    const tags = [...await t.notmuch.dump('*')].map(([m, list]): [string, string[]] => [m, [...list].sort()]).sort((a, b) => a[0].localeCompare(b[0]));
    // Each sandbox has its own port.
    const patches = JSON.parse(JSON.stringify(s.store.db.prepare('SELECT * FROM patches ORDER BY instance, project, msgid').all()).replaceAll(t.sandbox.url, 'SANDBOX')) as unknown[];
    const pending = s.store.db.prepare('SELECT instance, project, msgid, kind, state, reason, attempts FROM pending ORDER BY instance, project, msgid, kind').all();
    await s.close();
    const server = [...data.patches.values()].map((p): [number, string, boolean] => [p.id, p.state, p.archived]);
    // What differs between two runs by nature: timings.
    const stable = summaries.map((r) => ({ ...r, durationMs: 0, rules: { ...r.rules, started: undefined }, projects: r.projects.map((p) => ({ ...p, httpRequests: 0 })) }));
    return { tags, patches, pending, server, summaries: stable };
  }

  it('gives the same tags, store rows, Patchwork states and summaries as a sync that keeps them in memory', async () => {
    const kept = await story({});
    const spilled = await story({ spillAfter: 0 });
    // The story did what it is for: pushes, retags, conflicts, mail found by id.
    const [first, second] = kept.summaries as { projects: { fetched: number; pushed: number; conflicts: unknown[] }[] }[];
    expect(first!.projects[0]!.fetched).to.equal(301);
    expect(second!.projects[0]!.pushed).to.be.at.least(7);
    expect(second!.projects[0]!.conflicts).to.have.length.at.least(2);
    for (const n of [1, 2]) expect(kept.tags.find(([m]) => m === `off-list.${n}@example.org`)?.[1]).to.include('pw-skiboot-new');
    expect(spilled.tags).to.deep.equal(kept.tags);
    expect(spilled.patches).to.deep.equal(kept.patches);
    expect(spilled.pending).to.deep.equal(kept.pending);
    expect(spilled.server).to.deep.equal(kept.server);
    expect(spilled.summaries).to.deep.equal(kept.summaries);
  });
});
