import { expect } from 'chai';
import Database from '../server/store/sqlite.js';
import { execa } from 'execa';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MARKER } from '../server/setup/hook.js';
import { sync } from '../server/sync/engine.js';
import { CLI, makeEnv, msgidOf, patchesOf, ROOT, type TestEnv } from './helpers.js';

// Fitting into an existing setup: the post-new hook, switching from the
// original tool, doctor, installs, and the systemd units.

describe('setup', function () {
  this.timeout(120_000);
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));
  const run = (args: string[]) => execa(process.execPath, [CLI, ...args], { env: t.env, extendEnv: false, reject: false });

  it('installs the post-new hook idempotently, keeping what the hook already does, and uninstalls exactly its line', async () => {
    t = await makeEnv({ patches: 3 });
    const hooks = join(t.maildir, '.notmuch', 'hooks');
    mkdirSync(hooks, { recursive: true });
    const hook = join(hooks, 'post-new');
    const mine = '#!/bin/sh\n# my afew setup\nafew --tag --new\n';
    writeFileSync(hook, mine);
    chmodSync(hook, 0o755);
    expect((await run(['-c', t.configFile, 'hook', 'install'])).stdout).to.equal(`installed in ${hook}`);
    expect((await run(['-c', t.configFile, 'hook', 'install'])).stdout).to.equal(`already installed in ${hook}`);
    const text = readFileSync(hook, 'utf8');
    expect(text.startsWith(mine)).to.equal(true);
    expect(text.split('\n').filter((l) => l.includes(MARKER))).to.have.length(1);
    expect(statSync(hook).mode & 0o111).to.equal(0o111);
    expect((await run(['-c', t.configFile, 'hook', 'uninstall'])).stdout).to.equal(`removed from ${hook}`);
    expect(readFileSync(hook, 'utf8')).to.equal(mine);
  });

  it('tags mail arriving with notmuch new through the hook, with no HTTP request', async () => {
    t = await makeEnv({ patches: 5 });
    expect((await run(['-c', t.configFile, 'sync'])).exitCode).to.equal(0);
    await run(['-c', t.configFile, 'hook', 'install']);
    t.sandbox.data.addPatch({ project: t.project.id, msgid: '<hooked.1@example.org>', name: 'hooked', submitter: 1, date: '2026-11-01T00:00:00', state: 'rfc' });
    expect((await run(['-c', t.configFile, 'sync'])).exitCode).to.equal(0);
    const before = t.sandbox.requests;
    await t.addMail('hooked.1@example.org'); // runs notmuch new, which runs the hook
    expect(await t.tags('hooked.1@example.org')).to.include('pw-skiboot-rfc');
    expect(t.sandbox.requests).to.equal(before);
    await run(['-c', t.configFile, 'hook', 'uninstall']);
    expect(existsSync(join(t.maildir, '.notmuch', 'hooks', 'post-new'))).to.equal(false);
  });

  it('imports the original tool\'s database and pushes its unpushed changes on the next sync', async () => {
    t = await makeEnv({ patches: 6, stateMix: false });
    // As the original left things: tags written, its last-seen states recorded, one change not pushed.
    const ids = patchesOf(t);
    const original = join(t.dir, '.pwnm-sync.db');
    const db = new Database(original);
    db.exec('CREATE TABLE pw_patch_status (msgid TEXT, project TEXT, need_sync INTEGER, patchid INTEGER, state TEXT); CREATE TABLE nm_patch_status (msgid TEXT, project TEXT, need_sync INTEGER, state TEXT);');
    for (const id of ids) {
      const msgid = msgidOf(t, id);
      const changed = id === ids[2];
      db.prepare('INSERT INTO pw_patch_status VALUES (?, ?, 0, ?, ?)').run(`<${msgid}>`, 'skiboot', id, 'new');
      db.prepare('INSERT INTO nm_patch_status VALUES (?, ?, ?, ?)').run(`<${msgid}>`, 'skiboot', changed ? 1 : 0, changed ? 'accepted' : 'new');
      await t.notmuch.tag([{ msgid, add: ['patchwork', 'pw-skiboot', changed ? 'pw-skiboot-accepted' : 'pw-skiboot-new'], remove: [] }]);
    }
    db.close();
    const before = readFileSync(original);
    const r = await run(['-c', t.configFile, 'import-original', original]);
    expect(r.stdout).to.equal(`imported 6 patch states from ${original} (skiboot); 1 local changes the original had not pushed go with the next sync; 0 rows of other projects skipped`);
    expect(readFileSync(original).equals(before)).to.equal(true); // never written
    const s = t.session();
    const p = (await sync(s)).projects[0]!;
    expect(p.pushed).to.equal(1);
    expect(t.sandbox.data.patches.get(ids[2]!)!.state).to.equal('accepted');
    await s.close();
  });

  it('doctor reports a wrong token and a missing notmuch database clearly', async () => {
    t = await makeEnv({ patches: 2 });
    writeFileSync(t.configFile, readFileSync(t.configFile, 'utf8').replace(/token = .*/, 'token = wrong-token-0000'));
    writeFileSync(t.configFile, readFileSync(t.configFile, 'utf8').replace('[pwnm-sync]', `[pwnm-sync]\nnotmuch_database = ${join(t.dir, 'no-such-mail')}`));
    const r = await run(['-c', t.configFile, 'doctor']);
    expect(r.exitCode).to.equal(1);
    expect(r.stdout).to.include(`FAIL notmuch: the notmuch database directory ${join(t.dir, 'no-such-mail')} does not exist\n     fix: mkdir -p ${join(t.dir, 'no-such-mail')} && notmuch new, or set notmuch_database to your mail directory`);
    expect(r.stdout).to.include('FAIL sandbox: sandbox: Patchwork rejected the token (Invalid token.); check the token for sandbox');
    expect(r.stdout).to.match(/fix: get a new token from http:\/\/127\.0\.0\.1:\d+\/user\/ and put it in the config/);
    expect(r.stdout).not.to.include('wrong-token-0000');
  });

  it('says what a newcomer\'s notmuch lacks, and the command that fixes it, in sync and doctor', async () => {
    t = await makeEnv({ patches: 2 });
    // notmuch installed, never set up: no NOTMUCH_CONFIG, no ~/.notmuch-config in this HOME.
    const fresh = { ...t.env };
    delete fresh.NOTMUCH_CONFIG;
    const runIn = (env: NodeJS.ProcessEnv, args: string[]) => execa(process.execPath, [CLI, '-c', t.configFile, ...args], { env, extendEnv: false, reject: false });
    const sync = await runIn(fresh, ['sync']);
    expect(sync.exitCode).to.equal(1);
    expect(sync.stdout + sync.stderr).to.include('notmuch is not set up (it has no config file): run notmuch setup');
    expect(sync.stdout + sync.stderr).not.to.include('cannot load config file');
    const doc = await runIn(fresh, ['doctor']);
    expect(doc.stdout).to.include('FAIL notmuch: notmuch is not set up (it has no config file)\n     fix: notmuch setup');
    // `notmuch setup` done, `notmuch new` not yet: the database directory has no .notmuch.
    const empty = join(t.dir, 'empty-mail');
    mkdirSync(empty);
    writeFileSync(join(t.dir, 'notmuch-config-new'), `[database]\npath=${empty}\n`);
    const unindexed = await runIn({ ...fresh, NOTMUCH_CONFIG: join(t.dir, 'notmuch-config-new') }, ['sync']);
    expect(unindexed.exitCode).to.equal(1);
    expect(unindexed.stdout + unindexed.stderr).to.include(`there is no notmuch database in ${empty} yet: run notmuch new`);
  });

  it('doctor passes on a good setup', async () => {
    t = await makeEnv({ patches: 2 });
    const r = await run(['-c', t.configFile, 'doctor']);
    expect(r.stdout).to.match(/^ok {3}config: /);
    expect(r.stdout).to.match(/ok {3}sandbox token: accepted by http:\/\/127\.0\.0\.1:\d+ \(API 1\.3\)/);
    expect(r.stdout).to.include('ok   sandbox project skiboot: id 1, list skiboot@lists.ozlabs.org');
    expect(r.exitCode, r.stdout).to.equal(0);
  });

  it('doctor says when bundle tags wait for me, and who me is once a sync learnt it', async () => {
    t = await makeEnv({ patches: 2 });
    const note = 'ok   sandbox me: unknown yet\n     fix: bundle tags off for sandbox: set me = USERNAME in [instance sandbox] (or [Defaults]), or make one private bundle on Patchwork';
    expect((await run(['-c', t.configFile, 'doctor'])).stdout).to.include(note);
    t.sandbox.data.addBundle({ owner: t.maint.id, name: 'mine', public: false, patches: [patchesOf(t)[0]!] });
    await run(['-c', t.configFile, 'sync']);
    const r = await run(['-c', t.configFile, 'doctor']);
    expect(r.stdout).to.match(/ok {3}sandbox me: maint \(learnt from your private bundles on http:\/\/127\.0\.0\.1:\d+\)/);
    t.writeConfig('me = maint\n');
    expect((await run(['-c', t.configFile, 'doctor'])).stdout).to.include('ok   sandbox me: maint (config)');
  });

  it('installs from npm pack\'s tarball with npm install -g and runs', async function () {
    this.timeout(600_000);
    t = await makeEnv({ patches: 1 });
    const pack = await execa('npm', ['pack', '--silent', '--pack-destination', t.dir], { cwd: ROOT });
    const tarball = join(t.dir, pack.stdout.trim().split('\n').at(-1)!);
    const prefix = join(t.dir, 'prefix');
    const install = await execa('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', tarball], { cwd: t.dir, reject: false, all: true });
    expect(install.exitCode, install.all).to.equal(0);
    const version = await execa(join(prefix, 'bin', 'pwnm-sync'), ['--version'], { reject: false });
    expect(version.stdout).to.equal((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    // The installed package carries the Emacs package and no tests.
    const installed = join(prefix, 'lib', 'node_modules', 'pwnm-sync');
    expect(existsSync(join(installed, 'elisp', 'pwnm-sync.el'))).to.equal(true);
    expect(existsSync(join(installed, 'test'))).to.equal(false);
    // A command and a server, not a library: importing the package is refused by its exports.
    const imported = await execa(process.execPath, ['--input-type=module', '-e', "await import('pwnm-sync')"], { cwd: join(prefix, 'lib'), reject: false });
    expect(imported.stderr).to.include('ERR_PACKAGE_PATH_NOT_EXPORTED');
    const sync = await execa(join(prefix, 'bin', 'pwnm-sync'), ['-c', t.configFile, 'status'], { env: t.env, reject: false });
    expect(sync.exitCode, sync.stderr).to.equal(0);
    rmSync(prefix, { recursive: true, force: true });
  });

  it('scripts/setup test installs Debian systemd when systemd-analyze is missing, and only then', async () => {
    t = await makeEnv({ patches: 1 });
    // The script in a checkout of its own (it cds to ..), with npm, apt-get and sudo as stubs that log, and a
    // PATH with the tools it looks for but not systemd-analyze: the real checkout and machine are not touched.
    const checkout = join(t.dir, 'checkout');
    mkdirSync(join(checkout, 'scripts'), { recursive: true });
    mkdirSync(join(checkout, 'node_modules'));
    copyFileSync(join(ROOT, 'scripts', 'setup'), join(checkout, 'scripts', 'setup'));
    writeFileSync(join(checkout, 'package-lock.json'), '{}');
    writeFileSync(join(checkout, 'node_modules', '.package-lock.json'), '{}');
    const bin = join(t.dir, 'bin');
    mkdirSync(bin);
    const real = async (tool: string): Promise<string> => (await execa('sh', ['-c', `command -v ${tool}`])).stdout.trim();
    for (const tool of ['sh', 'notmuch', 'emacs', 'git', 'tmux', 'ls', 'dirname', 'id']) symlinkSync(await real(tool), join(bin, tool));
    const log = join(t.dir, 'calls.log');
    for (const stub of ['apt-get', 'npm']) writeFileSync(join(bin, stub), `#!/bin/sh\necho "${stub} $*" >> ${log}\n`, { mode: 0o755 });
    writeFileSync(join(bin, 'sudo'), '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
    const setup = () => execa(join(bin, 'sh'), [join(checkout, 'scripts', 'setup'), 'test'], { env: { PATH: bin }, extendEnv: false, reject: false, all: true });
    const installs = (): string[] => readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('apt-get install'));

    const r = await setup();
    expect(r.exitCode, r.all).to.equal(0);
    expect(installs()).to.deep.equal(['apt-get install -y -qq --no-install-recommends systemd']);
    // Once it is there, nothing is installed.
    symlinkSync(await real('systemd-analyze'), join(bin, 'systemd-analyze'));
    rmSync(log);
    const again = await setup();
    expect(again.exitCode, again.all).to.equal(0);
    expect(installs()).to.deep.equal([]);
  });

  it('ships systemd units that systemd-analyze accepts', async () => {
    // scripts/setup test installs systemd-analyze (Debian systemd): a missing tool fails here, it does not skip.
    const r = await execa('systemd-analyze', ['verify', '--man=no', join(ROOT, 'contrib', 'systemd', 'pwnm-sync.timer'), join(ROOT, 'contrib', 'systemd', 'pwnm-sync.service')], { reject: false, all: true });
    expect(r.exitCode, r.all).to.equal(0);
    expect(r.all).not.to.match(/pwnm-sync\.(service|timer):\d+:/);
  });
});
