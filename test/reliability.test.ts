import { expect } from 'chai';
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { sync } from '../server/sync/engine.js';
import { CLI, isMailTag, makeEnv, msgidOf, patchesOf, startServe, stopServe, type TestEnv } from './helpers.js';

// Faults around notmuch, concurrent writers, a client that goes away, and
// the token: none may lose a change or leak a secret.

describe('reliability', function () {
  this.timeout(120_000);
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));
  const run = (args: string[], env: NodeJS.ProcessEnv = t.env) => execa(process.execPath, [CLI, ...args], { env, extendEnv: false, reject: false });
  /** Every patch mail's state tag equals Patchwork's (one notmuch dump). */
  const converged = async (): Promise<void> => {
    const all = await t.notmuch.dump('*');
    for (const id of patchesOf(t)) {
      const tags = (all.get(msgidOf(t, id)) ?? []).filter((x) => x.startsWith('pw-skiboot-') && !isMailTag(x));
      expect(tags, String(id)).to.deep.equal([`pw-skiboot-${t.sandbox.data.patches.get(id)!.state}`]);
    }
  };

  it('gives up on a notmuch write lock held too long with a clear error, and loses nothing', async () => {
    t = await makeEnv({ patches: 10 });
    writeFileSync(t.configFile, readFileSync(t.configFile, 'utf8').replace('[pwnm-sync]', '[pwnm-sync]\nlock_timeout = 2'));
    // `notmuch tag --batch` holds the write lock while its input stays open.
    const holder = spawn('notmuch', ['tag', '--batch'], { env: t.env, stdio: ['pipe', 'ignore', 'ignore'] });
    await new Promise((r) => setTimeout(r, 300));
    const locked = await run(['-c', t.configFile, 'sync']);
    holder.stdin.end();
    await new Promise((r) => holder.on('exit', r));
    expect(locked.exitCode).to.equal(1);
    expect(locked.stdout).to.match(/error {5}the notmuch database stayed locked for \d+ s \(is notmuch new running\?\); nothing was lost, run the sync again/);
    const again = await run(['-c', t.configFile, 'sync']);
    expect(again.exitCode, again.stdout).to.equal(0);
    await converged();
  });

  it('says notmuch is missing and how to install it', async () => {
    t = await makeEnv({ patches: 2 });
    const r = await run(['-c', t.configFile, 'sync'], { ...t.env, PATH: '/nonexistent' });
    expect(r.stderr).to.equal('pwnm-sync: notmuch not found: install it (Debian/Ubuntu: apt-get install notmuch) or put it on PATH');
    expect(r.exitCode).to.equal(1);
  });

  it('copes with a message deleted locally', async () => {
    t = await makeEnv({ patches: 6 });
    const s = t.session();
    await sync(s);
    const id = patchesOf(t)[2]!;
    const { stdout } = await execa('notmuch', ['search', '--output=files', `id:${msgidOf(t, id)}`], { env: t.env });
    rmSync(stdout.trim());
    await execa('notmuch', ['new', '--quiet'], { env: t.env });
    t.sandbox.data.setState(id, 'superseded');
    const p = (await sync(s)).projects[0]!;
    expect(p.errors).to.deep.equal([]);
    expect(p.missingLocally).to.equal(1);
    await s.close();
  });

  it('lets notmuch new run during a sync', async () => {
    t = await makeEnv({ patches: 300 });
    t.sandbox.delayMs = 100;
    const s = t.session();
    const running = sync(s);
    await t.addMail('during.sync@example.org');
    const p = (await running).projects[0]!;
    expect(p.errors).to.deep.equal([]);
    await converged();
    await s.close();
  });

  it('refuses a CLI sync while the server syncs the same state database, with a clear message', async () => {
    t = await makeEnv({ patches: 300 });
    t.sandbox.delayMs = 300;
    const server = startServe(t);
    await server.conn.sendRequest('initialize', {});
    const serverSync = server.conn.sendRequest('sync');
    await new Promise((r) => setTimeout(r, 400));
    const cli = await run(['-c', t.configFile, 'sync']);
    expect(cli.exitCode).to.equal(1);
    expect(cli.stderr).to.match(/^pwnm-sync: another pwnm-sync \(pid \d+\) is syncing .*state\.db; wait for it to finish$/);
    await serverSync;
    await stopServe(server);
    await converged();
  });

  it('stops cleanly when the client goes away mid-sync, and the next sync converges', async () => {
    t = await makeEnv({ patches: 600 });
    t.sandbox.delayMs = 300;
    const server = startServe(t);
    await server.conn.sendRequest('initialize', {});
    void server.conn.sendRequest('sync').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 700));
    server.conn.dispose();
    server.child.stdin.end();
    expect(await server.exited).to.equal(0);
    t.sandbox.delayMs = 0;
    const r = await run(['-c', t.configFile, 'sync']);
    expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
    await converged();
  });

  it('never prints the token: not in output, errors, --json or a crash', async () => {
    t = await makeEnv({ patches: 3 });
    const ok = await run(['-c', t.configFile, 'sync', '--json']);
    const status = await run(['-c', t.configFile, 'status', '--json']);
    t.sandbox.faults.push({ times: Infinity, status: 500, body: `{"detail":"token ${t.maint.token} leaked by a broken server"}` });
    const failing = await run(['-c', t.configFile, 'sync', '--full']);
    for (const r of [ok, status, failing]) expect(r.stdout + r.stderr).not.to.include(t.maint.token);
    expect(failing.stdout).to.include('<token>');
  });

  it('does not follow a redirect to another host (the token would go with it)', async () => {
    t = await makeEnv({ patches: 3 });
    t.sandbox.faults.push({ path: /\/api\/1\.3\/$/, times: Infinity, status: 302, body: '', contentType: 'text/html', headers: { Location: 'http://127.0.0.2:9/api/1.3/' } });
    const r = await run(['-c', t.configFile, 'sync']);
    expect(r.exitCode).to.equal(1);
    expect(r.stdout).to.match(/was redirected to http:\/\/127\.0\.0\.2:9\/api\/1\.3\/; check the instance URL/);
  });

  it('does not lose a patch that changes state while the pages are read', async () => {
    t = await makeEnv({ patches: 600 });
    const ids = patchesOf(t);
    let flipped = false;
    t.sandbox.delayMs = 50;
    const s = t.session();
    const p = sync(s, { onProgress: (pr) => {
      if (pr.phase === 'fetch' && !flipped) {
        flipped = true;
        t.sandbox.data.setState(ids[590]!, 'not-applicable'); // on the last page
        t.sandbox.data.setState(ids[1]!, 'not-applicable'); // on the first page, already read
      }
    } });
    await p;
    await sync(s);
    await converged();
    await s.close();
  });
});
