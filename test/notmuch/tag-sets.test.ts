import { expect } from 'chai';
import { TagSets } from '../../server/notmuch/tag-sets.js';

// Shared tag lists: a first sync queues thousands of changes that mostly
// add the same tags, and keeps one list per distinct set, never one per message.

describe('tag sets', () => {
  it('gives equal changes of different messages the same add and remove lists, unchanged', () => {
    const sets = new TagSets();
    const a = sets.shareChange({ msgid: 'a@x', add: ['patchwork', 'pw-p', 'pw-p-new'], remove: ['pw-p-accepted'] });
    const b = sets.shareChange({ msgid: 'b@x', add: ['patchwork', 'pw-p', 'pw-p-new'], remove: ['pw-p-accepted'] });
    expect(a.msgid).to.equal('a@x');
    expect(b.msgid).to.equal('b@x');
    expect(a.add).to.deep.equal(['patchwork', 'pw-p', 'pw-p-new']);
    expect(a.remove).to.deep.equal(['pw-p-accepted']);
    expect(b.add).to.equal(a.add);
    expect(b.remove).to.equal(a.remove);
    // Shared, so no holder may change them for the others.
    expect(Object.isFrozen(a.add)).to.equal(true);
    expect(Object.isFrozen(a.remove)).to.equal(true);
  });

  it('keeps different changes apart, order included', () => {
    const sets = new TagSets();
    const a = sets.shareChange({ msgid: 'a@x', add: ['pw-p', 'pw-p-new'], remove: [] });
    const b = sets.shareChange({ msgid: 'b@x', add: ['pw-p-new', 'pw-p'], remove: [] });
    const c = sets.shareChange({ msgid: 'c@x', add: ['pw-p'], remove: ['pw-p-new'] });
    expect(b.add).to.not.equal(a.add);
    expect(b.add).to.deep.equal(['pw-p-new', 'pw-p']);
    expect(c.add).to.deep.equal(['pw-p']);
    expect(c.remove).to.deep.equal(['pw-p-new']);
  });
});
