import { expect } from 'chai';
import { execa } from 'execa';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SQLITE_PACKAGE } from '../server/store/sqlite.js';
import { CLI, makeEnv, ROOT, type TestEnv } from './helpers.js';

// The CLI starts in a blink: `sync` runs in notmuch's post-new hook after
// every `notmuch new`. Node's module loader costs about a millisecond per
// file, so the CLI is one bundled file (scripts/bundle.mjs) plus chunks that
// only their command loads. Counted in files and bytes, not timed.

const LOAD_LOG = ['--import', join(ROOT, 'build', 'test', 'support', 'load-log.js')];

/**
 * The chunks a sync may load besides cli.js and the shared `chunk-*` files,
 * by the name esbuild gives a chunk (its entry module's): rules run in every
 * sync, execa runs notmuch, undici-slim is the HTTP client. Every other
 * named chunk in dist/ is a command's (serve, info, pending, ...) and is
 * blocked, so a new command's chunk is blocked without being named here.
 */
const SYNC_CHUNKS = ['rules', 'execa', 'undici-slim'];
const LOCAL_ONLY_CHUNKS = ['rules', 'execa'];
const chunkName = (file: string): string | undefined => /^([a-z-]+)-[A-Z0-9]{8}\.js$/.exec(file)?.[1];
const commandChunks = (allowed: string[]): string[] =>
  readdirSync(join(ROOT, 'dist')).filter((f) => { const name = chunkName(f); return name !== undefined && name !== 'chunk' && !allowed.includes(name); });

describe('start-up', function () {
  this.timeout(60_000);
  let t: TestEnv;
  afterEach(async () => t && (await t.cleanup()));

  /** The files of ours a CLI run loads, as ES modules or with require() (better-sqlite3). */
  async function loaded(args: string[]): Promise<string[]> {
    const r = await execa(process.execPath, [...LOAD_LOG, CLI, '-c', t.configFile, ...args], { env: t.env, extendEnv: false, reject: false });
    expect(r.exitCode, r.stderr).to.equal(0);
    return [...new Set([...r.stderr.matchAll(/^pwnm-load (file:\S+)$/gm)].map((m) => m[1]!))].filter((u) => !u.includes('/build/test/support/'));
  }
  const bytes = (files: string[]): number => files.reduce((n, u) => n + statSync(new URL(u)).size, 0);

  it('blocks every command chunk the bundle has (derived from dist/, so a new command is covered)', () => {
    const blocked = commandChunks(SYNC_CHUNKS).map(chunkName);
    // The commands a sync never runs, each in its own chunk (cli.ts imports them when they run).
    for (const command of ['server', 'demo', 'apply', 'accept', 'doctor', 'hook', 'import-original', 'fill', 'thanks', 'info', 'pending', 'report', 'set-state', 'counts']) {
      expect(blocked, command).to.include(command);
    }
  });

  it('loads a handful of bundled files for a sync and a --local-only sync, none of other commands, and only this Node\'s better-sqlite3', async () => {
    t = await makeEnv({ patches: 3 });
    // The first sync is a full one; the second has nothing to do; then the post-new hook's.
    // Bytes of dist/ stand in for the parsing. Measured (esbuild 0.28, Node 20): a sync 950,649
    // in 22 files, of which undici-slim is 501,886; --local-only 448,763 in 21. Budgets: that plus
    // about 10% (the file count: 25, as esbuild's shared chunks come and go with the commands), so
    // --local-only loading the HTTP client overshoots its budget by some 450 KB.
    for (const [args, allowed, budget] of [[['sync'], SYNC_CHUNKS, 1_050_000], [['sync'], SYNC_CHUNKS, 1_050_000], [['sync', '--local-only'], LOCAL_ONLY_CHUNKS, 495_000]] as const) {
      const files = await loaded([...args]);
      const what = `${args.join(' ')}:\n${files.join('\n')}`;
      const ours = files.filter((u) => u.includes('/dist/'));
      const blocked = commandChunks([...allowed]);
      expect(ours.filter((u) => blocked.some((f) => u.endsWith(`/dist/${f}`))), what).to.deep.equal([]);
      // From node_modules only the better-sqlite3 this Node runs (server/store/sqlite.ts), and what it requires.
      const modules = files.filter((u) => !u.includes('/dist/'));
      expect(modules.filter((u) => !/\/node_modules\/(bindings|file-uri-to-path)\//.test(u) && !u.includes(`/node_modules/${SQLITE_PACKAGE}/`)), what).to.deep.equal([]);
      expect(modules.some((u) => u.endsWith('.node')), what).to.equal(true);
      expect(ours.length, what).to.be.within(1, 25);
      expect(bytes(ours), what).to.be.below(budget);
    }
  });
});
