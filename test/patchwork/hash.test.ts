import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashDiff } from '../../server/patchwork/hash.js';
import { RECORDINGS } from '../helpers.js';

// Patchwork's hash_diff, checked against what a real Patchwork stored.
describe('Patchwork diff hash', () => {
  const vectors = JSON.parse(readFileSync(join(RECORDINGS, 'hash-vectors.json'), 'utf8')) as { id: string; msgid: string; hash: string | null; diff: string | null }[];

  it('has the 40 recorded vectors', () => expect(vectors).to.have.length(40));
  for (const v of vectors) {
    it(`patch ${v.id}: ${v.diff === null ? 'a pull request has no diff and no hash' : v.hash}`, () => {
      if (v.diff === null) expect(v.hash).to.equal(null);
      else expect(hashDiff(v.diff)).to.equal(v.hash);
    });
  }
});
