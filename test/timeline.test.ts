import { expect } from 'chai';
import { formatTimeline, laneSummary, Timeline, type Span } from '../server/timeline.js';

const span = (lane: string, start: number, end: number, size?: number): Span => ({ lane, what: lane, start, end, ...(size === undefined ? {} : { size }) });

describe('timeline', () => {
  it('records nothing while off', () => {
    const t = new Timeline();
    t.begin('fetch', 'GET /api/')();
    expect(t.spans).to.have.length(0);
    t.enabled = true;
    t.begin('fetch', 'GET /api/', 3)();
    expect(t.spans.map((s) => [s.lane, s.what, s.size])).to.deep.equal([['fetch', 'GET /api/', 3]]);
  });

  it('counts a lane busy while any of its spans is open, and the gaps between as idle', () => {
    // 0-10 and 5-20 overlap (busy 20), then a gap of 10, then 30-35 (busy 5): busy 25, idle 10.
    const spans = [span('tag', 30, 35, 4), span('tag', 0, 10, 1), span('tag', 5, 20, 2), span('fetch', 0, 100)];
    expect(laneSummary(spans, 'tag')).to.deep.equal({ lane: 'tag', spans: 3, first: 0, last: 35, busy: 25, idle: 10, longestGap: 10, size: 7 });
    expect(laneSummary(spans, 'store')).to.equal(undefined);
    expect(formatTimeline(spans)).to.match(/tag\s+3 spans, 0-35 ms, busy 25 ms, idle 10 ms \(longest gap 10 ms\), 7 items/);
  });
});
