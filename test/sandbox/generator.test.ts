import { expect } from 'chai';
import { generate } from '../../server/sandbox/generator.js';
import { Sandbox } from '../../server/sandbox/server.js';

// The generator's dates: an hour apart, but never spread over more than 15
// years (a million patches an hour apart would reach back to 1912, and
// notmuch holds no date before 1970: a sync's `since` bound then left half
// of the benchmark's patches out).

describe('sandbox generator dates', function () {
  this.timeout(60_000);
  const dates = (patches: number): string[] => {
    const sandbox = new Sandbox();
    const project = sandbox.data.addProject({ link_name: 'p', list_email: 'p@example.org' });
    generate(sandbox.data, project, '/nonexistent', { patches, seed: 3, writeMail: false, newest: new Date(Date.UTC(2026, 10, 1)) });
    return [...sandbox.data.patches.values()].map((p) => p.date).sort();
  };

  const hours = (d: string[]): number => (Date.parse(`${d.at(-1)!}Z`) - Date.parse(`${d[0]!}Z`)) / 3_600_000;

  it('puts a small corpus an hour a patch apart', () => {
    const span = hours(dates(1000));
    expect(span).to.be.within(990, 1000);
  });

  it('keeps a corpus past 131,400 patches within 15 years, after 1970', () => {
    const d = dates(140_000);
    // About 15 years of 365 days (131,400 hours; a series' first patch may sit a step or two
    // further back), where an hour apart would be 140,000 hours.
    expect(hours(d)).to.be.within(131_000, 131_410);
    expect(d[0]! > '1970-01-01', d[0]).to.equal(true);
  });
});
