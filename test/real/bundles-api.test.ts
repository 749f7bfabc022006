import { bundleScenarios, type BundleWho } from '../sandbox/bundle-scenarios.js';
import { makeRealEnv, type RealEnv } from './env.js';
import type { RealPatchwork } from './harness.js';
import { needRealPatchwork } from './hooks.js';

// The bundle API scenarios of test/sandbox/bundle-scenarios.ts against the
// real Patchwork 3.1.3: the facts the sandbox copies.

describe('real Patchwork: bundles API', function () {
  this.timeout(60_000);
  let pw: RealPatchwork;
  const envs: RealEnv[] = [];
  before(async function () { pw = await needRealPatchwork(this); });
  after(async () => { for (const t of envs.splice(0)) await t.cleanup(); });

  it('answers the bundle scenarios as the sandbox does', async () => {
    const t = await makeRealEnv(pw, { patches: 3, seed: 5 });
    envs.push(t);
    const other = await makeRealEnv(pw, { patches: 1, seed: 6 });
    envs.push(other);
    const a = (await t.patches()).map((p) => p.id).sort((x, y) => x - y);
    const b = (await other.patches())[0]!.id;
    const tokens: Record<BundleWho, string | undefined> = { maint: pw.maint.token, plain: pw.plain.token, none: undefined };
    await bundleScenarios({
      a, b, linkA: t.link, linkB: other.link,
      async api(method, path, as, body, version = '1.3') {
        const headers: Record<string, string> = { accept: 'application/json' };
        if (tokens[as]) headers.authorization = `Token ${tokens[as]}`;
        if (body !== undefined) headers['content-type'] = 'application/json';
        const r = await fetch(`${pw.url}/api/${version}/${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
        const text = await r.text();
        return { status: r.status, body: (r.headers.get('content-type') ?? '').includes('json') && text ? JSON.parse(text) as unknown : undefined, allow: r.headers.get('allow'), location: r.headers.get('location') };
      },
    });
  });
});
