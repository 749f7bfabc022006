import Module, { register } from 'node:module';
import { writeSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';

// `node --import build/test/support/load-log.js ...`: every module the
// process loads is written to stderr as `pwnm-load URL` (test/startup.test.ts).
// ES modules through the loader hooks; CommonJS ones (better-sqlite3, which
// server/store/sqlite.ts loads with createRequire) never pass those, so
// through Module._load, the one function every require() goes through.
register('./load-log-hooks.js', import.meta.url);

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const cjs = Module as unknown as { _load: Load; _resolveFilename: (request: string, parent: unknown, isMain: boolean) => string };
const load = cjs._load;
cjs._load = function (request, parent, isMain) {
  const exports = load.call(this, request, parent, isMain);
  const file = cjs._resolveFilename(request, parent, isMain);
  if (isAbsolute(file)) writeSync(2, `pwnm-load ${pathToFileURL(file).href}\n`);
  return exports;
};
