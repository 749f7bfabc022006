import { expect } from 'chai';
import { execa } from 'execa';
import { join } from 'node:path';
import { CLI, makeEnv, msgidOf, patchesOf, ROOT, startServe, stopServe, type TestEnv } from './helpers.js';

// Syncs and a long `serve` session with garbage collected all the time
// (test/support/force-gc.ts): no process of ours may end on a signal. Node 24
// aborts a process whose native objects need a JavaScript context to be
// finalised (better-sqlite3 12); this is where that would show.

const FORCE_GC = ['--expose-gc', '--import', join(ROOT, 'build', 'test', 'support', 'force-gc.js')];
const SYNCS = 6;
const ROUNDS = 30;
const REINITS = 2;

describe(`forced garbage collection on Node ${process.versions.node}`, function () {
  this.timeout(180_000);
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));

  it('finalises 60,000 statements prepared through our SQLite module with no signal', async () => {
    // The pattern that aborts better-sqlite3 12 on Node 24 every time here:
    // statements that live long enough to reach the old generation, then die.
    const script = `import Database from ${JSON.stringify(join(ROOT, 'build', 'server', 'store', 'sqlite.js'))};
      const db = new Database(':memory:');
      let alive = [];
      for (let i = 0; i < 60000; i++) { alive.push(db.prepare('SELECT ?').bind(i)); if (alive.length === 1000) alive = []; }
      db.close();`;
    const r = await execa(process.execPath, ['--input-type=module', '-e', script], { reject: false });
    expect(r.signal, r.stderr).to.equal(undefined);
    expect(r.exitCode, r.stderr).to.equal(0);
  });

  it(`runs ${SYNCS} syncs with no process ended by a signal`, async () => {
    t = await makeEnv({ patches: 30 });
    const ids = patchesOf(t);
    for (let i = 0; i < SYNCS; i++) {
      // A change on each side between syncs, so that every run reads and writes.
      t.sandbox.data.setState(ids[i]!, i % 2 ? 'accepted' : 'changes-requested');
      if (i > 0) await t.notmuch.tag([{ msgid: msgidOf(t, ids[10 + i]!), add: ['pw-skiboot-under-review'], remove: [`pw-skiboot-${t.sandbox.data.patches.get(ids[10 + i]!)!.state}`] }]);
      const r = await execa(process.execPath, [...FORCE_GC, CLI, '-c', t.configFile, 'sync'], { env: t.env, extendEnv: false, reject: false });
      expect(r.signal, `sync ${i + 1}: ${r.stderr}`).to.equal(undefined);
      expect(r.exitCode, `sync ${i + 1}: ${r.stdout}\n${r.stderr}`).to.equal(0);
    }
    expect(t.sandbox.data.patches.get(ids[11]!)!.state).to.equal('under-review');
  });

  it(`serves ${ROUNDS} rounds of requests with collections between them and exits cleanly`, async () => {
    t = await makeEnv({ patches: 30 });
    const server = startServe(t, ['-c', t.configFile], FORCE_GC);
    let signal: NodeJS.Signals | null = null;
    server.child.on('exit', (_code, s) => { signal = s; });
    await server.conn.sendRequest('initialize', {});
    const ids = patchesOf(t);
    // What the server answered, round by round: every sync ok, every patchInfo the patch asked for.
    const asked: string[] = [];
    const answered: { ok: boolean; info: string | undefined }[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      // Emacs initializes again after a config or token change: each time the
      // old session's database and its prepared statements become garbage.
      for (let j = 0; j < REINITS; j++) await server.conn.sendRequest('initialize', {});
      const synced = await server.conn.sendRequest<{ ok: boolean }>('sync');
      await server.conn.sendRequest('counts');
      asked.push(msgidOf(t, ids[i % ids.length]!));
      const info = await server.conn.sendRequest<{ patches: { messageId: string }[] }>('patchInfo', { messageId: asked.at(-1) });
      await server.conn.sendRequest('pending');
      answered.push({ ok: synced.ok, info: info.patches[0]?.messageId });
      await new Promise((r) => setTimeout(r, 20)); // let a few collections run
    }
    await stopServe(server);
    expect(signal, server.stderr()).to.equal(null);
    expect(server.child.exitCode, server.stderr()).to.equal(0);
    expect(answered).to.deep.equal(asked.map((msgid) => ({ ok: true, info: msgid })));
  });
});
