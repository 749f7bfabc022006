import { expect } from 'chai';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

// The benchmark, small, so that it cannot rot: it must run and print its
// table. No times are asserted (they would be flaky here).

describe('benchmark smoke run', function () {
  this.timeout(300_000);

  it('runs 200 patches end to end and prints the table', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pwnm-bench-smoke-'));
    try {
      const out = join(dir, 'smoke.md');
      const r = await execa(process.execPath, [join(ROOT, 'build', 'test', 'bench', 'bench.js'), '--patches', '200', '--latency-ms', '5', '--out', out, '--cache-dir', dir], { reject: false, all: true });
      expect(r.exitCode, r.all).to.equal(0);
      const table = readFileSync(out, 'utf8');
      for (const step of ['fetch floor', 'tag floor', 'first full sync', 'no-change incremental sync', 'incremental, 100 server + 100 local changes', '--local-only, nothing to do', 'setState via serve']) {
        expect(table, step).to.include(`| ${step}`);
      }
      // wall, module load, requests, notmuch calls, peak RSS, the ratio to the floors
      expect(table).to.match(/first full sync \| [\d.]+ m?s \| [\d.]+ m?s \| \d+ \| \d+ \| \d+ MB \| [\d.]+ x max\(floors\)/);
      // The first full sync's timeline: pages fetched, tag batches and store writes, each lane summed up.
      const timeline = readFileSync(join(dir, 'timeline-200.txt'), 'utf8');
      expect(timeline).to.match(/GET \/api\/1\.0\/patches\/\?project=/);
      expect(timeline).to.match(/notmuch tag --batch/);
      for (const lane of ['fetch', 'tag', 'store', 'plan', 'sync']) expect(timeline).to.match(new RegExp(`^  ${lane} +\\d+ spans, `, 'm'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
