import { join } from 'node:path';
import { realPatchwork, stopRealPatchwork, type RealPatchwork } from './harness.js';

// Mocha glue for test/real: skip a describe when the real Patchwork cannot
// run here, and root hooks (registered when the first real test file loads)
// that stop the shared server once, at the end of the whole run.

let failedRealTests = 0;

/** In a describe's `before`: the real Patchwork, or skip the whole describe. */
export async function needRealPatchwork(ctx: Mocha.Context): Promise<RealPatchwork> {
  ctx.timeout(120_000);
  const pw = await realPatchwork();
  if (!pw) ctx.skip();
  return pw!;
}

afterEach(function () {
  if (this.currentTest?.state === 'failed' && this.currentTest.file?.includes(join('test', 'real'))) failedRealTests++;
});
after(async function () {
  this.timeout(60_000);
  await stopRealPatchwork(failedRealTests > 0);
});
