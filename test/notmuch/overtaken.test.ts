import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PwnmError } from '../../server/errors.js';
import { Notmuch } from '../../server/notmuch/notmuch.js';

// A read that a writer's commits overtook is read again: the trailers pass
// shows threads while its own tag batches (or `notmuch new`) commit, and
// notmuch 0.37 then fails a `show` with "Thread ... has no toplevel
// messages" (seen in 2 of 4 first syncs of 5,000 patches). A write is never
// repeated on such an error. The failures come from a fake `notmuch`.

describe('notmuch reads overtaken by a writer', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'pwnm-fake-notmuch-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const OVERTAKEN = 'Internal error: Thread 0000000000000064 has no toplevel messages.';
  const calls = (): number => Number(readFileSync(join(dir, 'calls'), 'utf8'));

  /** A `notmuch` on PATH that fails its first `failures` calls with `message`, then prints `out`. */
  function fakeNotmuch(failures: number, message: string, lockTimeoutMs = 5000, out = '[]'): Notmuch {
    const script = join(dir, 'notmuch');
    writeFileSync(join(dir, 'calls'), '0');
    writeFileSync(script, `#!${process.execPath}
const fs = require('node:fs');
const file = ${JSON.stringify(join(dir, 'calls'))};
const n = Number(fs.readFileSync(file, 'utf8')) + 1;
fs.writeFileSync(file, String(n));
if (n <= ${failures}) { process.stderr.write(${JSON.stringify(`${message}\n`)}); process.exit(1); }
process.stdin.resume(); process.stdin.on('end', () => process.stdout.write(${JSON.stringify(`${out}\n`)}));
`, { mode: 0o755 });
    return new Notmuch({ env: { PATH: `${dir}:${process.env.PATH ?? ''}` }, lockTimeoutMs });
  }

  it('shows the threads again when a commit overtook the read', async () => {
    expect(await fakeNotmuch(2, OVERTAKEN).showThreads('thread:0000000000000064')).to.deep.equal([]);
    expect(calls()).to.equal(3);
  });

  it('reads again when Xapian says the revision was discarded', async () => {
    const discarded = 'A Xapian exception occurred: The revision being read has been discarded - you should call Xapian::Database::reopen() and retry the operation';
    expect(await fakeNotmuch(1, discarded, 5000, '7').count(['*'])).to.deep.equal([7]);
    expect(calls()).to.equal(2);
  });

  it('does not repeat a tag batch on such an error', async () => {
    const failed = await fakeNotmuch(1, OVERTAKEN).tag([{ msgid: 'a@x', add: ['t'], remove: [] }]).then(() => undefined, (err: unknown) => err);
    expect(failed).to.be.instanceOf(PwnmError);
    expect((failed as PwnmError).code).to.equal('NOTMUCH_FAILED');
    expect(calls()).to.equal(1);
  });

  it('gives up once the reads have failed for as long as a lock may be waited for', async () => {
    const started = Date.now();
    const failed = await fakeNotmuch(1000, OVERTAKEN, 500).showThreads('*').then(() => undefined, (err: unknown) => err);
    expect((failed as PwnmError).code).to.equal('NOTMUCH_FAILED');
    expect((failed as PwnmError).message).to.include('no toplevel messages');
    expect(Date.now() - started).to.be.below(3000);
    expect(calls()).to.be.above(1);
  });

  it('does not read again after another failure', async () => {
    const failed = await fakeNotmuch(1, 'Error: Unbalanced parenthesis in query').showThreads('(').then(() => undefined, (err: unknown) => err);
    expect((failed as PwnmError).code).to.equal('NOTMUCH_FAILED');
    expect(calls()).to.equal(1);
  });
});
