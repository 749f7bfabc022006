import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TagSets } from '../../server/notmuch/tag-sets.js';
import { MessageTags } from '../../server/store/message-tags.js';
import { Store } from '../../server/store/store.js';
import { IdSet } from '../../server/sync/id-set.js';

// What a sync holds per message of a long history: the tags it read (moved
// to SQLite past a threshold) and the patch ids it planned (one bit each).

describe('message tags kept for a sync', () => {
  let dir: string;
  let store: Store;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pwnm-tags-'));
    store = new Store(join(dir, 'state.db'));
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tempTables = (): string[] => store.db.prepare<[], { name: string }>("SELECT name FROM sqlite_temp_master WHERE type = 'table'").all().map((r) => r.name);

  for (const spillAfter of [1000, 2, 0]) {
    it(`reads back what was set, changed and deleted, past the threshold too (${spillAfter})`, () => {
      const tags = new MessageTags(store, new TagSets(), spillAfter);
      const want = new Map<string, string[]>();
      for (let i = 0; i < 7; i++) {
        const list = i % 2 ? ['inbox', 'pw-skiboot'] : [];
        tags.set(`m${i}@example.org`, list);
        want.set(`m${i}@example.org`, list);
      }
      tags.set('m3@example.org', ['pw-skiboot-accepted']);
      want.set('m3@example.org', ['pw-skiboot-accepted']);
      tags.delete('m4@example.org');
      want.delete('m4@example.org');
      expect(tags.size).to.equal(6);
      for (const [msgid, list] of want) expect(tags.get(msgid), msgid).to.deep.equal(list);
      expect(tags.get('m4@example.org')).to.equal(undefined);
      expect(tags.has('m0@example.org')).to.equal(true);
      expect(tags.has('nope@example.org')).to.equal(false);
      // In SQLite only past the threshold; gone once closed.
      expect(tempTables()).to.have.length(spillAfter < 7 ? 2 : 0);
      tags.close();
      expect(tempTables()).to.deep.equal([]);
    });
  }

  it('reads the later of two entries for one message-id that met in SQLite', () => {
    const tags = new MessageTags(store, new TagSets(), 1);
    tags.set('a@example.org', ['old']);
    tags.set('b@example.org', ['x']);
    tags.set('a@example.org', ['new']);
    tags.set('c@example.org', ['y']);
    expect(tags.get('a@example.org')).to.deep.equal(['new']);
    expect(tags.size).to.equal(3);
  });

  it('walks every message-id once, a chunk at a time, while the caller changes entries', () => {
    const tags = new MessageTags(store, new TagSets(), 3);
    const ids = Array.from({ length: 11 }, (_, i) => `id${String(i).padStart(2, '0')}@example.org`);
    for (const id of ids) tags.set(id, ['a']);
    const seen: string[] = [];
    const sizes: number[] = [];
    for (const chunk of tags.chunks(4)) {
      sizes.push(chunk.length);
      for (const id of chunk) {
        seen.push(id);
        tags.set(id, ['a', 'b']);
      }
    }
    expect(seen.sort()).to.deep.equal(ids);
    expect(sizes).to.deep.equal([4, 4, 3]);
    for (const id of ids) expect(tags.get(id)).to.deep.equal(['a', 'b']);
  });

  it('holds ids as bits, growing past what it first had room for', () => {
    const set = new IdSet();
    const ids = [0, 7, 8, 8191, 8192, 1_000_003, 14_000_000];
    for (const id of ids) set.add(id);
    for (const id of ids) expect(set.has(id), String(id)).to.equal(true);
    for (const id of [1, 6, 9, 8190, 1_000_002, 14_000_001, 20_000_000]) expect(set.has(id), String(id)).to.equal(false);
  });
});
