// npm run test:real [-- --pw VERSION ...]: the real-Patchwork suite
// (build/test/real) once per Patchwork version, each in its own mocha run
// with its own gunicorn, then one verdict line per version.
// Versions: each --pw, else PATCHWORK_VERSIONS (comma or space separated),
// else every version whose source is vendored in ../shared/vendor. A version
// whose source is missing fails under CI=true and is skipped otherwise
// (the harness says why, in one line).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const KNOWN = ['3.1.3', '3.2.1', 'main'];
const VENDOR = join(ROOT, '..', 'shared', 'vendor');

const args = process.argv.slice(2);
const asked = [];
const mochaArgs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--pw') asked.push(args[++i]);
  else if (args[i].startsWith('--pw=')) asked.push(args[i].slice(5));
  else mochaArgs.push(args[i]);
}
const fromEnv = (process.env.PATCHWORK_VERSIONS ?? '').split(/[\s,]+/).filter(Boolean);
const vendored = existsSync(VENDOR) ? readdirSync(VENDOR) : [];
const found = KNOWN.filter((v) => vendored.some((f) => f.startsWith(`patchwork-${v}${v === 'main' ? '-' : '.tar'}`)));
const versions = asked.length ? asked : fromEnv.length ? fromEnv : found.length ? found : ['3.1.3'];
const unknown = versions.filter((v) => !KNOWN.includes(v));
if (unknown.length) {
  console.error(`test-real: unknown Patchwork version ${unknown.join(', ')}; known: ${KNOWN.join(', ')}`);
  process.exit(2);
}

// The harness writes why it skipped a version into this file.
const scratch = mkdtempSync(join(tmpdir(), 'pwnm-test-real-'));
const verdicts = [];
let failed = false;
for (const version of versions) {
  const start = Date.now();
  console.log(`=== real Patchwork ${version} ===`);
  const r = spawnSync('npx', ['mocha', '--no-config', '--timeout', '60000', '--slow', '5000', ...mochaArgs, 'build/test/real/**/*.test.js'],
    { cwd: ROOT, stdio: 'inherit', env: { ...process.env, PATCHWORK_VERSION: version, PWNM_REAL_SKIPPED: join(scratch, version) } });
  const secs = Math.round((Date.now() - start) / 1000);
  const ok = r.status === 0;
  failed ||= !ok;
  const skipped = existsSync(join(scratch, version)) ? readFileSync(join(scratch, version), 'utf8') : undefined;
  const verdict = !ok ? `FAILED (exit ${r.status ?? r.signal})` : skipped ? `skipped (${skipped})` : 'passed';
  verdicts.push(`real Patchwork ${version}: ${verdict} in ${Math.floor(secs / 60)} min ${secs % 60} s`);
}
rmSync(scratch, { recursive: true, force: true });
console.log(verdicts.join('\n'));
process.exit(failed ? 1 : 0);
