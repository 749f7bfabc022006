import { expect } from 'chai';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, makeEnv, msgidOf, patchesOf, patchIn, type TestEnv } from './helpers.js';

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
    expect(h.stdout).to.include('info MSGID');
    expect(h.stdout).to.include('--retry [ID|MSGID...]');
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
    t = await makeEnv({ patches: 5, token: 'user', stateMix: false });
    await run(['-c', t.configFile, 'sync']);
    const id = patchesOf(t)[0]!;
    const r = await run(['-c', t.configFile, 'set-state', msgidOf(t, id), 'accepted']);
    expect(r.exitCode).to.equal(1);
    expect(r.stdout).to.equal(`skiboot: patch ${id} refused: not a maintainer of skiboot on sandbox`);
  });

  it('shows a patch with info: state, archived, delegate, series, checks, web page', async () => {
    t = await makeEnv({ patches: 12 });
    const { data } = t.sandbox;
    // A patch in a series of several, archived, delegated, with CI results.
    const id = patchesOf(t).find((i) => (data.series.get(data.patches.get(i)!.series!)?.total ?? 1) > 1)!;
    const patch = data.patches.get(id)!;
    const series = data.series.get(patch.series!)!;
    const part = data.seriesPatches(series.id).findIndex((p) => p.id === id) + 1;
    patch.archived = true;
    data.setDelegate(id, t.maint.id);
    data.addCheck(id, t.maint.id, { state: 'fail', context: 'ci-build', target_url: 'https://ci.example.org/1' });
    data.addCheck(id, t.maint.id, { state: 'success', context: 'ci-build', target_url: 'https://ci.example.org/2' });
    data.addCheck(id, t.maint.id, { state: 'warning', context: 'lint' });
    expect((await run(['-c', t.configFile, 'sync'])).exitCode).to.equal(0);

    const r = await run(['-c', t.configFile, 'info', `<${msgidOf(t, id)}>`]);
    expect(r.exitCode, r.stderr).to.equal(0);
    // The review line: the trailer tags its replies gave (test/mail/trailers.test.ts checks those);
    // not "needs my review", as the patch is delegated to someone (no `me` here: anyone is someone else).
    const review = (await t.tags(msgidOf(t, id))).filter((x) => /^pw-skiboot-(acked|reviewed|tested|replied)$/.test(x)).map((x) => x.slice('pw-skiboot-'.length));
    const stateName = { new: 'New', 'under-review': 'Under Review', accepted: 'Accepted', rejected: 'Rejected', rfc: 'RFC', superseded: 'Superseded', 'changes-requested': 'Changes Requested', 'not-applicable': 'Not Applicable', deferred: 'Deferred', 'awaiting-upstream': 'Awaiting Upstream' }[patch.state];
    expect(r.stdout.split('\n')).to.deep.equal([
      `skiboot (sandbox) patch ${id}: ${patch.name}`,
      `  state     ${stateName} (pw-skiboot-${patch.state})`,
      '  archived  yes',
      '  delegate  maint',
      `  series    ${part}/${series.total} v${series.version} ${series.name} (series ${series.id})`,
      '  check     ci-build: success https://ci.example.org/2',
      '  check     lint: warning',
      `  web       ${t.sandbox.url}/project/skiboot/patch/${msgidOf(t, id)}/`,
      `  review    ${review.join(', ') || 'none'}`,
      '  pending   none',
    ]);
    const json = JSON.parse((await run(['-c', t.configFile, 'info', msgidOf(t, id), '--json'])).stdout) as { patches: { checks: { context: string; state: string }[] }[] };
    expect(json.patches[0]).to.include({ project: 'skiboot', patchId: id, state: patch.state, archived: true, delegate: 'maint' });
    expect(json.patches[0]!.checks.map((c) => `${c.context} ${c.state}`)).to.deep.equal(['ci-build success', 'lint warning']);

    const unknown = await run(['-c', t.configFile, 'info', 'nobody@example.org']);
    expect(unknown.exitCode).to.equal(1);
    expect(unknown.stderr).to.match(/^pwnm-sync: no patch with Message-ID nobody@example\.org in skiboot/);
  });

  it('lists pending changes and drops one', async () => {
    t = await makeEnv({ patches: 5, token: 'user', stateMix: false });
    await run(['-c', t.configFile, 'sync']);
    const id = patchIn(t, 'new');
    const msgid = msgidOf(t, id);
    expect((await run(['-c', t.configFile, 'set-state', msgid, 'accepted'])).exitCode).to.equal(1);

    const list = await run(['-c', t.configFile, 'pending']);
    expect(list.exitCode, list.stderr).to.equal(0);
    expect(list.stdout.split('\n')[0]).to.match(new RegExp(`^refused   skiboot ${msgid.replace(/[.+]/g, '\\$&')} accepted: not a maintainer of skiboot on sandbox \\(0 attempts, \\d{4}-`));
    const { items } = JSON.parse((await run(['-c', t.configFile, 'pending', '--json'])).stdout) as { items: { id: string }[] };
    expect(items).to.have.length(1);
    expect(items[0]).to.include({ kind: 'refused', project: 'skiboot', messageId: msgid, state: 'accepted' });
    expect((await run(['-c', t.configFile, 'info', msgid])).stdout).to.include('  pending   refused accepted: not a maintainer of skiboot on sandbox');

    const dropped = await run(['-c', t.configFile, 'pending', '--drop', msgid]);
    expect(dropped.exitCode, dropped.stderr).to.equal(0);
    expect(dropped.stdout).to.equal('dropped 1 pending item');
    expect((await run(['-c', t.configFile, 'pending'])).stdout).to.equal('nothing pending');
    const again = await run(['-c', t.configFile, 'pending', '--drop', String(items[0]!.id)]);
    expect(again.exitCode).to.equal(1);
    expect(again.stdout).to.equal('dropped 0 pending items');
    expect((await run(['-c', t.configFile, 'pending', '--retry', '--drop', msgid])).exitCode).to.equal(2);
  });

  it('retries a change queued while read-only once a token is there', async () => {
    t = await makeEnv({ patches: 5, token: 'none', stateMix: false });
    await run(['-c', t.configFile, 'sync']);
    const id = patchIn(t, 'new');
    const msgid = msgidOf(t, id);
    await execa('notmuch', ['tag', '-pw-skiboot-new', '+pw-skiboot-accepted', '--', `id:${msgid}`], { env: t.env });
    expect((await run(['-c', t.configFile, 'sync'])).exitCode).to.equal(1);
    expect((await run(['-c', t.configFile, 'pending'])).stdout.split('\n')[0]).to.match(/^push +skiboot \S+ accepted: read-only: no token for sandbox; the change waits until one is configured/);

    const retry = await run(['-c', t.configFile, 'pending', '--retry'], { ...t.env, PWNM_SYNC_TOKEN: t.maint.token });
    expect(retry.exitCode, retry.stderr).to.equal(0);
    expect(retry.stdout).to.equal(`pushed    ${msgid} (skiboot) accepted`);
    expect(retry.stdout).not.to.include(t.maint.token);
    expect(t.sandbox.data.patches.get(id)!.state).to.equal('accepted');
    expect((await run(['-c', t.configFile, 'pending'])).stdout).to.equal('nothing pending');
  });

  it('runs the demo end to end', async function () {
    this.timeout(120_000);
    const r = await execa(process.execPath, [CLI, 'demo', '--patches', '40'], { reject: false });
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/First sync:\nskiboot \(sandbox, full sync\): 40 fetched, 40 retagged/);
    // The second sync: the events, the archive check, the push; its third notmuch call is the rules looking for new replies (tags changed).
    // Nine: the sync's three, and trailer tagging of the thread the user retagged (revision, the changed messages' threads, those of them with patch mail, show, the two user addresses).
    expect(r.stdout).to.match(/Second sync:\nskiboot \(sandbox, events sync\): 0 events read, 0 fetched, 0 retagged, 1 pushed, 0 conflicts, 0 queued, 0 refused, 0 not in notmuch; 3 requests, 1 notmuch call\ndone in [\d.]+ s; 9 notmuch calls in all/);
    expect(r.stdout).to.match(/Patchwork now says patch \d+ is accepted\./);
  });
});
