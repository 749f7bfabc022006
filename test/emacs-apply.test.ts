import { expect } from 'chai';
import { execa } from 'execa';
import { join } from 'node:path';
import { generate } from '../server/sandbox/generator.js';
import { jsonrpcVersions, makeEnv, runCli, runErt, skipIfMissing } from './helpers.js';

// `Y !` in Emacs: ERT in `emacs --batch` with the real notmuch-emacs, the
// real server process, the sandbox and a git repository the mail generator
// built, so that the patches really apply (test/emacs/pwnm-sync-apply-tests.el).

describe('Emacs package: Y ! applies patches', function () {
  this.timeout(300_000);

  for (const jsonrpc of jsonrpcVersions()) it(`passes the apply ERT suite against the real server, notmuch-emacs and a git repository (${jsonrpc.label})`, async function () {
    skipIfMissing(this, jsonrpc);
    const t = await makeEnv({ patches: 2, stateMix: false });
    try {
      const repo = join(t.dir, 'repo');
      const scenario = generate(t.sandbox.data, t.project, t.maildir, { patches: 0, git: { repo } }).scenario!;
      await execa('notmuch', ['new', '--quiet'], { env: t.env });
      const base = (await execa('git', ['-C', repo, 'rev-parse', 'HEAD'])).stdout;
      // The series applied, accepted from git and pushed to origin/main, for Y t (test 5) to thank;
      // thanks first used before, so that it is not history. The repository is back at its base.
      t.writeConfig('me = maint\n\n[project skiboot]\nbranch = origin/main\ncommit_url = https://git.example.org/skiboot/c/%h\n');
      const git = (...args: string[]) => execa('git', ['-C', repo, ...args]);
      await execa('git', ['init', '-q', '--bare', join(t.dir, 'origin.git')]);
      await git('remote', 'add', 'origin', join(t.dir, 'origin.git'));
      await git('push', '-q', 'origin', 'HEAD:main');
      await git('fetch', '-q', 'origin');
      const cli = async (...args: string[]) => {
        const r = await runCli(['-c', t.configFile, ...args], { env: t.env });
        expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
      };
      await cli('sync');
      await cli('thanks', '--repo', repo);
      await cli('apply', '--repo', repo, scenario.cover);
      await cli('accept-from-git', '--repo', repo, `${base}..HEAD`);
      await git('push', '-q', 'origin', 'HEAD:main');
      await git('fetch', '-q', 'origin');
      const thanked = (await git('log', '--reverse', '--format=%h %s', `${base}..HEAD`)).stdout;
      await git('reset', '-q', '--hard', base);
      // A private bundle of maint's (the token's user): the series' last patch, then its first.
      const bundled = [scenario.series[2]!, scenario.series[0]!];
      t.sandbox.data.addBundle({ owner: t.maint.id, name: 'to-apply', public: false, patches: bundled.map((m) => t.sandbox.data.patchByMsgid(t.project.id, `<${m}>`)!.id) });
      const env = {
        ...t.env, PWNM_TEST_CONFIG: t.configFile, PWNM_TEST_REPO: repo, PWNM_TEST_BASE: base,
        PWNM_TEST_SERIES_FIRST: scenario.series[0]!, PWNM_TEST_SERIES: scenario.series[1]!, PWNM_TEST_COVER: scenario.cover, PWNM_TEST_CONFLICT: scenario.conflict[0]!,
        PWNM_TEST_BUNDLE: bundled.join(','), PWNM_TEST_THANKED: thanked,
      };
      const r = await runErt('test/emacs/pwnm-sync-apply-tests.el', env, jsonrpc.dir);
      expect(r.exitCode, r.all.slice(-6000)).to.equal(0);
      expect(r.all).to.match(/Ran 5 tests, 5 results as expected, 0 unexpected/);
    } finally {
      await t.cleanup();
    }
  });
});
