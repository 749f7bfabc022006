import { expect } from 'chai';
import type { TagChange } from '../../server/notmuch/encoding.js';
import type { Notmuch } from '../../server/notmuch/notmuch.js';
import { TagWriter, type TagItem } from '../../server/sync/tag-writer.js';

// The order of the tag writer's work: each batch is recorded in the store
// while notmuch applies the next one, and only once notmuch applied it.
// notmuch here is a stand-in whose calls finish when the test says, so the
// order can be checked step by step (test/sync/engine.test.ts runs the
// writer with the real notmuch).

interface Call { changes: readonly TagChange[]; finish: () => void; fail: (err: Error) => void }

function fakeNotmuch(log: string[]): { notmuch: Notmuch; calls: Call[] } {
  const calls: Call[] = [];
  const notmuch = {
    tag(changes: readonly TagChange[]): Promise<void> {
      log.push(`tag start ${changes[0]!.msgid}`);
      return new Promise<void>((resolve, reject) => {
        calls.push({ changes, finish: () => { log.push(`tag end ${changes[0]!.msgid}`); resolve(); }, fail: reject });
      });
    },
  } as unknown as Notmuch;
  return { notmuch, calls };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function item(msgid: string): TagItem {
  return { msgid, change: { msgid, add: ['patchwork'], remove: [] }, state: 'new' };
}

/** A writer whose store is the log. */
function writerFor(notmuch: Notmuch, log: string[]): TagWriter {
  return new TagWriter(notmuch, { transaction: (fn) => fn(), commit: (i) => void log.push(`record ${i.msgid}`) });
}

describe('tag writer', () => {
  it('records a batch while notmuch applies the next one, never before notmuch applied it', async () => {
    const log: string[] = [];
    const { notmuch, calls } = fakeNotmuch(log);
    const writer = writerFor(notmuch, log);
    // Fewer than a batch (250 at first), so that flush starts the first; the rest arrive while notmuch works on it.
    for (let i = 0; i < 200; i++) writer.add(item(`m${i}`));
    const flushed = writer.flush();
    await tick();
    expect(calls).to.have.length(1);
    expect(log).to.deep.equal(['tag start m0']);
    for (let i = 200; i < 400; i++) writer.add(item(`m${i}`));
    calls[0]!.finish();
    await tick();
    expect(calls).to.have.length(2);
    // The second batch went to notmuch before the first was recorded, and the first was recorded before the second ended.
    expect(log.slice(0, 4)).to.deep.equal(['tag start m0', 'tag end m0', 'tag start m200', 'record m0']);
    expect(log).to.include('record m199');
    expect(log).to.not.include('record m200');
    calls[1]!.finish();
    await flushed;
    expect(log.indexOf('record m200')).to.be.greaterThan(log.indexOf('tag end m200'));
    expect(log.filter((l) => l.startsWith('record'))).to.have.length(400);
  });

  it('records the applied batch when the next one fails, and not the failed one', async () => {
    const log: string[] = [];
    const { notmuch, calls } = fakeNotmuch(log);
    const writer = writerFor(notmuch, log);
    for (let i = 0; i < 200; i++) writer.add(item(`m${i}`));
    const flushed = writer.flush();
    await tick();
    for (let i = 200; i < 400; i++) writer.add(item(`m${i}`));
    calls[0]!.finish();
    await tick();
    calls[1]!.fail(new Error('notmuch died'));
    let failure: unknown;
    await flushed.catch((err: unknown) => { failure = err; });
    expect(String(failure)).to.include('notmuch died');
    const recorded = log.filter((l) => l.startsWith('record'));
    expect(recorded).to.have.length(200);
    expect(recorded[0]).to.equal('record m0');
    expect(recorded[199]).to.equal('record m199');
  });
});
