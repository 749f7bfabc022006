import { expect } from 'chai';
import { execa } from 'execa';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, makeEnv, ROOT, type TestEnv } from './helpers.js';

// The CLI starts in a blink: `sync` runs in notmuch's post-new hook after
// every `notmuch new`. Node's module loader costs about a millisecond per
// file, so the CLI is one bundled file (scripts/bundle.mjs) plus chunks that
// only their command loads. Counted in files, not timed.

const LOAD_LOG = ['--import', join(ROOT, 'build', 'test', 'support', 'load-log.js')];
/** The chunks of commands a sync never runs (esbuild names a chunk after its entry module). */
const RARE = /\/(server|demo|apply|accept|doctor|hook|import-original|generator|fill|thanks|info|pending|report|set-state|counts)-[A-Z0-9]+\.js$/;

describe('start-up', function () {
  this.timeout(60_000);
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));

  /** The files of ours a CLI run loads as ES modules. */
  async function loaded(args: string[]): Promise<string[]> {
    const r = await execa(process.execPath, [...LOAD_LOG, CLI, '-c', t.configFile, ...args], { env: t.env, extendEnv: false, reject: false });
    expect(r.exitCode, r.stderr).to.equal(0);
    return [...new Set([...r.stderr.matchAll(/^pwnm-load (file:\S+)$/gm)].map((m) => m[1]!))].filter((u) => !u.includes('/build/test/support/'));
  }

  it('loads a handful of bundled files for a sync and a --local-only sync, none of other commands or from node_modules', async () => {
    t = await makeEnv({ patches: 3 });
    // The first sync is a full one; the second has nothing to do; then the post-new hook's.
    // Bytes stand in for the parsing: undici whole would add 0.6 MB, and --local-only loads no HTTP client.
    for (const [args, budget] of [[['sync'], 1_000_000], [['sync'], 1_000_000], [['sync', '--local-only'], 500_000]] as const) {
      const files = await loaded([...args]);
      const what = `${args.join(' ')}:\n${files.join('\n')}`;
      expect(files.filter((u) => u.includes('/node_modules/')), what).to.deep.equal([]);
      expect(files.filter((u) => RARE.test(u)), what).to.deep.equal([]);
      expect(files.every((u) => u.includes('/dist/')), what).to.equal(true);
      // 16: rules run in every sync, and the fill and thanks entry points split the shared code once more.
      expect(files.length, what).to.be.within(1, 16);
      expect(files.reduce((n, u) => n + statSync(new URL(u)).size, 0), what).to.be.below(budget);
    }
  });
});
