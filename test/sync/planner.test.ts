import { expect } from 'chai';
import { plan, type Action, type Access, type PlanInput } from '../../server/sync/planner.js';

// Agreed: state `new`, not archived. Each row says what changed where and
// the action expected, written out.
type RemoteChange = 'same' | 'moved'; // moved: Patchwork says rejected
type LocalChange = 'same' | 'changed' | 'ambiguous'; // changed: tags say accepted; ambiguous: accepted and rfc
type Archived = 'no' | 'local' | 'remote'; // who set the archived flag since the agreement
type Row = [RemoteChange, LocalChange, Archived, Access, Action];

function input(remote: RemoteChange, local: LocalChange, archived: Archived, access: Access, over: Partial<PlanInput> = {}): PlanInput {
  return {
    remote: { state: remote === 'same' ? 'new' : 'rejected', archived: archived === 'remote' },
    agreed: { state: 'new', archived: false },
    journal: null,
    local: { states: local === 'same' ? ['new'] : local === 'changed' ? ['accepted'] : ['accepted', 'rfc'], missingBaseTags: false, archived: archived === 'local' },
    prefer: 'server',
    access,
    archivedFamily: true,
    claimed: false,
    ...over,
  };
}

const ambiguous: Action = { kind: 'ambiguous', states: ['accepted', 'rfc'] };
const conflict = { local: 'accepted', remote: 'rejected' };

const table: Row[] = [
  ['same', 'same', 'no', 'write', { kind: 'retag', state: 'new', archived: false, quiet: true }],
  ['same', 'same', 'no', 'read-only', { kind: 'retag', state: 'new', archived: false, quiet: true }],
  ['same', 'same', 'no', 'local-only', { kind: 'retag', state: 'new', archived: false, quiet: true }],
  ['same', 'same', 'remote', 'write', { kind: 'retag', state: 'new', archived: true, quiet: true }],
  ['same', 'same', 'remote', 'read-only', { kind: 'retag', state: 'new', archived: true, quiet: true }],
  ['same', 'same', 'remote', 'local-only', { kind: 'retag', state: 'new', archived: true, quiet: true }],
  ['same', 'same', 'local', 'write', { kind: 'retag', state: 'new', quiet: true, push: { archived: true } }],
  ['same', 'same', 'local', 'read-only', { kind: 'queue', change: { archived: true }, why: 'read-only' }],
  ['same', 'same', 'local', 'local-only', { kind: 'queue', change: { archived: true }, why: 'local-only' }],

  ['moved', 'same', 'no', 'write', { kind: 'retag', state: 'rejected', archived: false, quiet: false }],
  ['moved', 'same', 'no', 'read-only', { kind: 'retag', state: 'rejected', archived: false, quiet: false }],
  ['moved', 'same', 'no', 'local-only', { kind: 'retag', state: 'rejected', archived: false, quiet: false }],
  ['moved', 'same', 'remote', 'write', { kind: 'retag', state: 'rejected', archived: true, quiet: false }],
  ['moved', 'same', 'remote', 'read-only', { kind: 'retag', state: 'rejected', archived: true, quiet: false }],
  ['moved', 'same', 'remote', 'local-only', { kind: 'retag', state: 'rejected', archived: true, quiet: false }],
  ['moved', 'same', 'local', 'write', { kind: 'retag', state: 'rejected', quiet: false, push: { archived: true } }],
  ['moved', 'same', 'local', 'read-only', { kind: 'queue', change: { archived: true }, why: 'read-only' }],
  ['moved', 'same', 'local', 'local-only', { kind: 'queue', change: { archived: true }, why: 'local-only' }],

  ['same', 'changed', 'no', 'write', { kind: 'push', change: { state: 'accepted' } }],
  ['same', 'changed', 'no', 'read-only', { kind: 'queue', change: { state: 'accepted' }, why: 'read-only' }],
  ['same', 'changed', 'no', 'local-only', { kind: 'queue', change: { state: 'accepted' }, why: 'local-only' }],
  ['same', 'changed', 'remote', 'write', { kind: 'push', change: { state: 'accepted' } }],
  ['same', 'changed', 'remote', 'read-only', { kind: 'queue', change: { state: 'accepted' }, why: 'read-only' }],
  ['same', 'changed', 'remote', 'local-only', { kind: 'queue', change: { state: 'accepted' }, why: 'local-only' }],
  ['same', 'changed', 'local', 'write', { kind: 'push', change: { state: 'accepted', archived: true } }],
  // Read-only queues the state alone (as before issue 16): the flag is read again next time.
  ['same', 'changed', 'local', 'read-only', { kind: 'queue', change: { state: 'accepted' }, why: 'read-only' }],
  ['same', 'changed', 'local', 'local-only', { kind: 'queue', change: { state: 'accepted', archived: true }, why: 'local-only' }],

  ['moved', 'changed', 'no', 'write', { kind: 'retag', state: 'rejected', archived: false, quiet: false, conflict }],
  ['moved', 'changed', 'no', 'read-only', { kind: 'retag', state: 'rejected', archived: false, quiet: false, conflict }],
  ['moved', 'changed', 'no', 'local-only', { kind: 'retag', state: 'rejected', archived: false, quiet: false, conflict }],
  ['moved', 'changed', 'remote', 'write', { kind: 'retag', state: 'rejected', archived: true, quiet: false, conflict }],
  ['moved', 'changed', 'remote', 'read-only', { kind: 'retag', state: 'rejected', archived: true, quiet: false, conflict }],
  ['moved', 'changed', 'remote', 'local-only', { kind: 'retag', state: 'rejected', archived: true, quiet: false, conflict }],
  ['moved', 'changed', 'local', 'write', { kind: 'retag', state: 'rejected', quiet: false, conflict, push: { archived: true } }],
  ['moved', 'changed', 'local', 'read-only', { kind: 'queue', change: { archived: true }, why: 'read-only' }],
  ['moved', 'changed', 'local', 'local-only', { kind: 'queue', change: { archived: true }, why: 'local-only' }],

  ['same', 'ambiguous', 'no', 'write', ambiguous],
  ['same', 'ambiguous', 'no', 'read-only', ambiguous],
  ['same', 'ambiguous', 'no', 'local-only', ambiguous],
  ['same', 'ambiguous', 'remote', 'write', ambiguous],
  ['same', 'ambiguous', 'remote', 'read-only', ambiguous],
  ['same', 'ambiguous', 'remote', 'local-only', ambiguous],
  ['same', 'ambiguous', 'local', 'write', ambiguous],
  ['same', 'ambiguous', 'local', 'read-only', ambiguous],
  ['same', 'ambiguous', 'local', 'local-only', ambiguous],
  ['moved', 'ambiguous', 'no', 'write', ambiguous],
  ['moved', 'ambiguous', 'no', 'read-only', ambiguous],
  ['moved', 'ambiguous', 'no', 'local-only', ambiguous],
  ['moved', 'ambiguous', 'remote', 'write', ambiguous],
  ['moved', 'ambiguous', 'remote', 'read-only', ambiguous],
  ['moved', 'ambiguous', 'remote', 'local-only', ambiguous],
  ['moved', 'ambiguous', 'local', 'write', ambiguous],
  ['moved', 'ambiguous', 'local', 'read-only', ambiguous],
  ['moved', 'ambiguous', 'local', 'local-only', ambiguous],
];

// The journal: a run died after tagging `accepted` for a Patchwork move it
// saw, before recording it. Tags saying exactly `accepted` are then ours.
type JournalRow = [RemoteChange | 'accepted', 'matches' | 'differs', Access, Action];
const journalTable: JournalRow[] = [
  ['same', 'matches', 'write', { kind: 'retag', state: 'new', archived: false, quiet: false }],
  ['same', 'matches', 'read-only', { kind: 'retag', state: 'new', archived: false, quiet: false }],
  ['moved', 'matches', 'write', { kind: 'retag', state: 'rejected', archived: false, quiet: false }],
  ['moved', 'matches', 'read-only', { kind: 'retag', state: 'rejected', archived: false, quiet: false }],
  ['accepted', 'matches', 'write', { kind: 'retag', state: 'accepted', archived: false, quiet: false }],
  ['accepted', 'matches', 'local-only', { kind: 'retag', state: 'accepted', archived: false, quiet: false }],
  // A journal the tags do not match says nothing about them: the user's change goes out.
  ['same', 'differs', 'write', { kind: 'push', change: { state: 'accepted' } }],
  ['same', 'differs', 'read-only', { kind: 'queue', change: { state: 'accepted' }, why: 'read-only' }],
  ['moved', 'differs', 'write', { kind: 'retag', state: 'rejected', archived: false, quiet: false, conflict }],
];

describe('planner', () => {
  describe('every remote change, local change, archived flag and access', () => {
    for (const [remote, local, archived, access, want] of table) {
      it(`remote ${remote}, local ${local}, archived by ${archived}, ${access}`, () => expect(plan(input(remote, local, archived, access))).to.deep.equal(want));
    }
  });

  describe('with a journal left by a crash', () => {
    for (const [remote, journal, access, want] of journalTable) {
      it(`remote ${remote}, journal ${journal}, ${access}`, () => {
        const state = remote === 'accepted' ? 'accepted' : remote === 'same' ? 'new' : 'rejected';
        const got = plan({ ...input('same', 'changed', 'no', access), remote: { state, archived: false }, journal: journal === 'matches' ? 'accepted' : 'rfc' });
        expect(got).to.deep.equal(want);
      });
    }
  });

  const p = (over: Partial<PlanInput>) => plan(input('same', 'same', 'no', 'write', over));
  it('leaves a message claimed by a focused push alone', () => expect(p({ claimed: true })).to.deep.equal({ kind: 'skip' }));
  it('reports a message missing locally', () => expect(p({ local: undefined })).to.deep.equal({ kind: 'missing' }));
  it('tags a new message with the server state', () =>
    expect(p({ agreed: { state: null, archived: null }, local: { states: [], missingBaseTags: true, archived: false } })).to.deep.equal({ kind: 'retag', state: 'new', archived: false, quiet: false }));
  it('server wins over stale tags on first sight, archived flag too', () =>
    expect(p({ agreed: { state: null, archived: null }, local: { states: ['accepted'], missingBaseTags: false, archived: true } })).to.deep.equal({ kind: 'retag', state: 'new', archived: false, quiet: false }));
  it('repairs removed state tags', () => expect(p({ local: { states: [], missingBaseTags: false, archived: false } })).to.deep.equal({ kind: 'retag', state: 'new', archived: false, quiet: false }));
  it('repairs missing base tags', () => expect(p({ local: { states: ['new'], missingBaseTags: true, archived: false } })).to.deep.equal({ kind: 'retag', state: 'new', archived: false, quiet: false }));
  it('pushes when the old tag was kept', () => expect(p({ local: { states: ['new', 'accepted'], missingBaseTags: false, archived: false } })).to.deep.equal({ kind: 'push', change: { state: 'accepted' } }));
  it('agrees when both sides made the same change', () =>
    expect(p({ remote: { state: 'accepted', archived: false }, local: { states: ['accepted'], missingBaseTags: false, archived: false } })).to.deep.equal({ kind: 'retag', state: 'accepted', archived: false, quiet: false }));
  it('agrees when both sides archived', () =>
    expect(p({ remote: { state: 'new', archived: true }, local: { states: ['new'], missingBaseTags: false, archived: true } })).to.deep.equal({ kind: 'retag', state: 'new', archived: true, quiet: true }));
  it('lets the local side win with prefer local', () =>
    expect(plan(input('moved', 'changed', 'no', 'write', { prefer: 'local' }))).to.deep.equal({ kind: 'push', change: { state: 'accepted' }, conflict }));
  it('trusts a journal only when the tags say exactly it', () =>
    expect(p({ journal: 'accepted', local: { states: ['new', 'accepted'], missingBaseTags: false, archived: false } })).to.deep.equal({ kind: 'push', change: { state: 'accepted' } }));
  it('agrees on an archived flag toggled on both sides, whatever is preferred', () =>
    expect(p({ prefer: 'local', remote: { state: 'new', archived: true }, local: { states: ['new'], missingBaseTags: false, archived: true } })).to.deep.equal({ kind: 'retag', state: 'new', archived: true, quiet: true }));
  it('queues a preferred local change when read-only', () =>
    expect(plan(input('moved', 'changed', 'no', 'read-only', { prefer: 'local' }))).to.deep.equal({ kind: 'queue', change: { state: 'accepted' }, why: 'read-only' }));
  it('leaves the archived tag alone when that family is off', () =>
    expect(plan(input('moved', 'same', 'local', 'write', { archivedFamily: false }))).to.deep.equal({ kind: 'retag', state: 'rejected', quiet: false }));

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
        const r = plan({ remote: { state: remote, archived: false }, agreed: { state: agreed, archived: false }, journal: crash ? seen : null, local: { states: [local], missingBaseTags: false, archived: false }, prefer, access: 'write', archivedFamily: false, claimed: false });
        const story = JSON.stringify({ agreed, crash, seen, userTo, serverTo, prefer, r });
        histories++;
        const userChanged = userTo !== null && userTo !== tagsBefore;
        // After a crash, tags saying the agreed state or the journal's look exactly like a history where
        // the user did nothing (the crash came before or after the tags were written): the data cannot
        // tell, and the safe side is to send nothing.
        const undecidable = crash !== null && (userTo === agreed || userTo === seen);
        if (!userChanged || undecidable) {
          // Nothing of the user's to send: the tags follow Patchwork.
          expect(r.kind, story).to.equal('retag');
          if (r.kind === 'retag' && !r.quiet) expect(r.state, story).to.equal(remote);
          else expect(local, story).to.equal(remote);
          continue;
        }
        // The user changed what they saw; Patchwork may have moved away from that too. After a crash the
        // data cannot tell whether they saw the agreed state or the journal's: the planner takes the agreed
        // one, so a move on Patchwork is a conflict, never a push over it unasked.
        const saw = crash ? agreed : tagsBefore;
        if (userTo === remote) expect(r, story).to.deep.include({ kind: 'retag', state: remote });
        else if (remote === saw) expect(r, story).to.deep.equal({ kind: 'push', change: { state: userTo } });
        else if (prefer === 'local') expect(r, story).to.deep.equal({ kind: 'push', change: { state: userTo }, conflict: { local: userTo, remote } });
        else expect(r, story).to.deep.equal({ kind: 'retag', state: remote, quiet: false, conflict: { local: userTo, remote } });
      }
    }
    expect(histories).to.equal(4 * 5 * 5 * 2 + 4 * 2 * 3 * 5 * 5 * 2);
  });
});
