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

  // Every history of one message, told as what happened (not as the
  // planner's rule): both sides agreed on a state; maybe a run then saw
  // Patchwork move and died while tagging it (before or after the tags
  // were written, which leaves the journal); then maybe the user retagged;
  // then maybe Patchwork moved again. What the planner must do follows
  // from who changed what.
  it('pushes exactly what the user changed, over every history', () => {
    const states = ['new', 'accepted', 'rejected', 'rfc'];
    let histories = 0;
    for (const agreed of states) for (const crash of [null, 'before-tagging', 'after-tagging'] as const) for (const seen of states) {
      if ((crash === null) !== (seen === agreed)) continue; // a run dies only while tagging a move it saw
      for (const userTo of [null, ...states]) for (const serverTo of [null, ...states]) for (const prefer of ['server', 'local'] as const) {
        const tagsBefore = crash === 'after-tagging' ? seen : agreed;
        const local = userTo ?? tagsBefore;
        const remote = serverTo ?? seen;
        const r = plan({ remote, baseline: agreed, journal: crash ? seen : null, local: [local], missingBaseTags: false, prefer, canPush: true });
        const story = JSON.stringify({ agreed, crash, seen, userTo, serverTo, prefer, r });
        histories++;
        const userChanged = userTo !== null && userTo !== tagsBefore;
        // After a crash, tags saying the agreed state or the journal's look exactly like a history where
        // the user did nothing (the crash came before or after the tags were written): the data cannot
        // tell, and the safe side is to send nothing.
        const undecidable = crash !== null && (userTo === agreed || userTo === seen);
        if (!userChanged || undecidable) {
          // Nothing of the user's to send: the tags follow Patchwork.
          expect(['none', 'retag'], story).to.include(r.kind);
          if (r.kind === 'retag') expect(r.state, story).to.equal(remote);
          else expect(local, story).to.equal(remote);
          continue;
        }
        // The user changed what they saw; Patchwork may have moved away from that too. After a crash the
        // data cannot tell whether they saw the agreed state or the journal's: the planner takes the agreed
        // one, so a move on Patchwork is a conflict, never a push over it unasked.
        const saw = crash ? agreed : tagsBefore;
        if (userTo === remote) expect(r, story).to.deep.include({ kind: 'retag', state: remote });
        else if (remote === saw) expect(r, story).to.deep.equal({ kind: 'push', state: userTo });
        else if (prefer === 'local') expect(r, story).to.deep.equal({ kind: 'push', state: userTo, conflict: { local: userTo, remote } });
        else expect(r, story).to.deep.equal({ kind: 'retag', state: remote, why: 'conflict', conflict: { local: userTo, remote } });
      }
    }
    expect(histories).to.equal(4 * 5 * 5 * 2 + 4 * 2 * 3 * 5 * 5 * 2);
  });
});
