import { expect } from 'chai';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, makeEnv, msgidOf, patchesOf, type TestEnv } from './helpers.js';

// The command line as a user (or cron) runs it: a real process.

describe('pwnm-sync command line', function () {
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));
  const run = (args: string[], env?: NodeJS.ProcessEnv) => execa(process.execPath, [CLI, ...args], { env: env ?? t.env, extendEnv: false, reject: false });

  it('prints its version and help', async () => {
    const { version } = (await import('../package.json', { with: { type: 'json' } })).default;
    const v = await execa(process.execPath, [CLI, '--version']);
    expect(v.stdout).to.equal(version);
    const h = await execa(process.execPath, [CLI, '--help']);
    expect(h.stdout).to.match(/^Usage: pwnm-sync/);
    expect(h.stdout).to.include('-e, --epoch');
  });

  it('exits 2 with file and line on a bad config', async () => {
    t = await makeEnv({ patches: 1 });
    const bad = join(t.dir, 'bad.ini');
    writeFileSync(bad, '[Defaults]\nsync = skiboot=skiboot@lists.ozlabs.org\nepoch = 2018-13-45\n');
    const r = await run(['-c', bad, 'sync']);
    expect(r.exitCode).to.equal(2);
    expect(r.stderr).to.equal(`pwnm-sync: ${bad}:3: epoch "2018-13-45" is not a date; write it as YYYY-MM-DD`);
  });

  it('exits 2 on an unknown command or flag', async () => {
    t = await makeEnv({ patches: 1 });
    expect((await run(['frobnicate'])).exitCode).to.equal(2);
    const r = await run(['--frob']);
    expect(r.exitCode).to.equal(2);
    expect(r.stderr).to.match(/Unknown option '--frob'/);
  });

  it('syncs, shows status, and sets a state, as JSON and as text', async () => {
    t = await makeEnv({ patches: 12 });
    const sync = await run(['-c', t.configFile, 'sync', '--json']);
    expect(sync.exitCode, sync.stderr).to.equal(0);
    const summary = JSON.parse(sync.stdout) as { projects: object[] };
    expect(summary.projects[0]).to.include({ project: 'skiboot', fetched: 12, retagged: 12 });
    expect(sync.stdout).not.to.include(t.maint.token);

    const status = await run(['-c', t.configFile, 'status']);
    expect(status.stdout).to.match(/^skiboot \(sandbox\): 12 messages tagged pw-skiboot; 0 patches not in notmuch; 0 pending/);

    const id = patchesOf(t)[0]!;
    const set = await run(['-c', t.configFile, 'set-state', `<${msgidOf(t, id)}>`, 'Changes Requested']);
    expect(set.exitCode, set.stderr).to.equal(0);
    expect(set.stdout).to.equal(`skiboot: patch ${id} set to changes-requested`);
    expect(t.sandbox.data.patches.get(id)!.state).to.equal('changes-requested');
    expect(await t.tags(msgidOf(t, id))).to.include('pw-skiboot-changes-requested');
  });

  it('accepts the original tool\'s flags in place of a config file', async () => {
    t = await makeEnv({ patches: 3 });
    const r = await run(['-p', t.sandbox.url, '-t', t.maint.token, '-s', 'skiboot=skiboot@lists.ozlabs.org', '--state-db', join(t.dir, 'flags.db')]);
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^skiboot \(127\.0\.0\.1:\d+, full sync\): 3 fetched, 3 retagged/);
  });

  it('exits 1 when a change was refused', async () => {
    t = await makeEnv({ patches: 5, token: 'user' });
    await run(['-c', t.configFile, 'sync']);
    const id = patchesOf(t)[0]!;
    const r = await run(['-c', t.configFile, 'set-state', msgidOf(t, id), 'accepted']);
    expect(r.exitCode).to.equal(1);
    expect(r.stdout).to.equal(`skiboot: patch ${id} refused: not a maintainer of skiboot on sandbox`);
  });

  it('runs the demo end to end', async function () {
    this.timeout(120_000);
    const r = await execa(process.execPath, [CLI, 'demo', '--patches', '40'], { reject: false });
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/First sync:\nskiboot \(sandbox, full sync\): 40 fetched, 40 retagged/);
    expect(r.stdout).to.match(/Second sync:\nskiboot \(sandbox, events sync\): 0 events read, 0 fetched, 0 retagged, 1 pushed, 0 conflicts, 0 queued, 0 refused, 0 not in notmuch; 2 requests, 1 notmuch calls\ndone in [\d.]+ s; 2 notmuch calls in all/);
    expect(r.stdout).to.match(/Patchwork now says patch \d+ is accepted\./);
  });
});
