// npm run build: the CLI as one ES module file, dist/cli.js, plus one chunk
// per rarely used command (serve, demo, apply, ...) that it imports when
// that command runs. Node's ES module loader costs about a millisecond per
// file, and execa and undici are a hundred files each: loaded file by file,
// they made most of a no-change sync's 0.5 s. tsc type-checks (--noEmit);
// esbuild only strips the types and joins the files.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * undici's index loads all of undici (fetch, WebSocket, caches, mocks);
 * the client uses an Agent, `request` and the retry interceptor. In the
 * bundle, `undici` is a module that loads only those.
 */
const slimUndici = {
  name: 'slim-undici',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: fileURLToPath(new URL('undici-slim.mjs', import.meta.url)) }));
  },
};

rmSync(`${root}/dist`, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { cli: 'server/cli.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  chunkNames: '[name]-[hash]',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Native: found at run time next to the running Node's version (server/store/sqlite.ts).
  external: ['better-sqlite3', 'better-sqlite3-13'],
  plugins: [slimUndici],
  // The CommonJS parts (undici, cross-spawn) call require().
  banner: { js: "import { createRequire as __pwnmCreateRequire } from 'node:module'; const require = __pwnmCreateRequire(import.meta.url);" },
  sourcemap: true,
  logLevel: 'warning',
});
