import { expect } from 'chai';
import { plan, type PlanInput } from '../../server/sync/planner.js';

const base: PlanInput = { remote: 'new', baseline: 'new', journal: null, local: ['new'], missingBaseTags: false, prefer: 'server', canPush: true };
const p = (over: Partial<PlanInput>) => plan({ ...base, ...over });

describe('planner', () => {
  it('does nothing when nothing changed', () => expect(p({})).to.deep.equal({ kind: 'none' }));
  it('reports a message missing locally', () => expect(p({ local: undefined })).to.deep.equal({ kind: 'missing' }));
  it('tags a new message with the server state', () => expect(p({ baseline: null, local: [] })).to.deep.equal({ kind: 'retag', state: 'new', why: 'new' }));
  it('agrees with a new message already tagged right', () => expect(p({ baseline: null })).to.deep.equal({ kind: 'retag', state: 'new', why: 'agree' }));
  it('server wins over stale tags on first sight', () => expect(p({ baseline: null, local: ['accepted'] })).to.deep.equal({ kind: 'retag', state: 'new', why: 'new' }));
  it('retags on a remote change', () => expect(p({ remote: 'accepted' })).to.deep.equal({ kind: 'retag', state: 'accepted', why: 'remote' }));
  it('repairs removed state tags', () => expect(p({ local: [] })).to.deep.equal({ kind: 'retag', state: 'new', why: 'repair' }));
  it('repairs missing base tags', () => expect(p({ missingBaseTags: true })).to.deep.equal({ kind: 'retag', state: 'new', why: 'repair' }));
  it('pushes a local change', () => expect(p({ local: ['accepted'] })).to.deep.equal({ kind: 'push', state: 'accepted' }));
  it('pushes when the old tag was kept', () => expect(p({ local: ['new', 'accepted'] })).to.deep.equal({ kind: 'push', state: 'accepted' }));
  it('blocks a push without a token', () => expect(p({ local: ['accepted'], canPush: false })).to.deep.equal({ kind: 'blocked', state: 'accepted' }));
  it('calls two new tags ambiguous', () => expect(p({ local: ['rejected', 'accepted'] })).to.deep.equal({ kind: 'ambiguous', states: ['accepted', 'rejected'] }));
  it('agrees when both sides made the same change', () => expect(p({ local: ['accepted'], remote: 'accepted' })).to.deep.equal({ kind: 'retag', state: 'accepted', why: 'agree' }));
  it('lets the server win a conflict by default', () =>
    expect(p({ local: ['accepted'], remote: 'rejected' })).to.deep.equal({ kind: 'retag', state: 'rejected', why: 'conflict', conflict: { local: 'accepted', remote: 'rejected' } }));
  it('lets the local side win with prefer local', () =>
    expect(p({ local: ['accepted'], remote: 'rejected', prefer: 'local' })).to.deep.equal({ kind: 'push', state: 'accepted', conflict: { local: 'accepted', remote: 'rejected' } }));
  it('treats tags equal to the journal as ours', () =>
    expect(p({ journal: 'under-review', local: ['under-review'], remote: 'under-review' })).to.deep.equal({ kind: 'retag', state: 'under-review', why: 'repair' }));
  it('ignores a journal the tags do not match', () => expect(p({ journal: 'rfc', local: ['accepted'] })).to.deep.equal({ kind: 'push', state: 'accepted' }));

  it('never pushes what the user did not change, over every combination', () => {
    const states = ['new', 'accepted', 'rejected'];
    for (const remote of states) for (const baseline of [null, ...states]) for (const journal of [null, ...states]) {
      for (const local of [undefined, [], ...states.map((s) => [s])]) for (const prefer of ['server', 'local'] as const) {
        const r = plan({ remote, baseline, journal, local, missingBaseTags: false, prefer, canPush: true });
        const effective = journal !== null && local?.length === 1 && local[0] === journal ? journal : baseline;
        if (r.kind === 'push') {
          expect(local, JSON.stringify({ remote, baseline, journal, local })).to.have.length(1);
          expect(local![0]).not.to.equal(effective);
          expect(local![0]).not.to.equal(remote);
        }
        if (r.kind === 'retag') expect(r.state).to.equal(remote);
      }
    }
  });
});
