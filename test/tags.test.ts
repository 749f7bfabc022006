import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { slugify, TagScheme, tagWord } from '../server/tags.js';

describe('tag names', () => {
  it('slugifies state names as Patchwork does', () => {
    // Patchwork's display names and their slugs (its default states).
    expect(slugify('Changes Requested')).to.equal('changes-requested');
    expect(slugify('Not Applicable')).to.equal('not-applicable');
    expect(slugify('  Awaiting Upstream ')).to.equal('awaiting-upstream');
    expect(slugify('under-review')).to.equal('under-review');
    expect(slugify('RFC!')).to.equal('rfc');
    // Django's slugify: runs of spaces and hyphens become one hyphen.
    expect(slugify('Under -  Review')).to.equal('under-review');
  });

  it('keeps ordinary slugs unchanged', () => {
    for (const s of ['new', 'under-review', 'changes-requested', 'skiboot', 'linux-cifs', 'qemu.devel']) expect(tagWord(s)).to.equal(s);
  });

  it('maps hostile words to one safe word', () => {
    expect(tagWord('a b')).to.equal('a_b');
    expect(tagWord('x" or tag:y')).to.equal('x__or_tag_y');
    expect(tagWord('--all')).to.equal('_-all');
    expect(tagWord('a--b')).to.equal('a-b');
    expect(tagWord('50%*()')).to.equal('50____');
    expect(tagWord('état\nnew')).to.equal('_tat_new');
    expect(tagWord('')).to.equal('_');
    const long = tagWord('x'.repeat(300));
    expect(long).to.have.length(64);
    expect(long).not.to.equal(tagWord(`${'x'.repeat(299)}y`));
    // The rule, worked by hand: 55 characters kept, then _ and the first 8 hex digits of the whole value's SHA-1.
    const hostile = `${'é'.repeat(100)}${'x'.repeat(100)}`;
    expect(tagWord(hostile)).to.equal(`${'_'.repeat(55)}_${createHash('sha1').update(hostile, 'utf8').digest('hex').slice(0, 8)}`);
  });

  it('builds the original scheme and reads states back', () => {
    const scheme = new TagScheme('pw', ['linux', 'linux-cifs']);
    expect(scheme.forState('linux', 'new')).to.deep.equal(['patchwork', 'pw-linux', 'pw-linux-new']);
    expect(scheme.stateSuffix('linux', 'pw-linux-accepted')).to.equal('accepted');
    expect(scheme.stateSuffix('linux', 'pw-linux-cifs')).to.equal(undefined);
    expect(scheme.stateSuffix('linux', 'pw-linux-cifs-new')).to.equal(undefined);
    expect(scheme.stateSuffix('linux-cifs', 'pw-linux-cifs-new')).to.equal('new');
    expect(scheme.stateSuffix('linux', 'pw-linux-check-fail')).to.equal(undefined);
    expect(scheme.stateSuffix('linux', 'pw-linux')).to.equal(undefined);
  });
});
