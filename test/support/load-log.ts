import { register } from 'node:module';

// `node --import build/test/support/load-log.js ...`: every ES module the
// process resolves is written to stderr as `pwnm-load URL` (test/startup.test.ts).
register('./load-log-hooks.js', import.meta.url);
