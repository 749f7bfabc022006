import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PatchworkClient } from '../../server/patchwork/client.js';
import { readEvents, WATCHED } from '../../server/patchwork/events.js';
import type { PwEvent, PwPatch } from '../../server/patchwork/types.js';
import { toRemote } from '../../server/patchwork/remote.js';
import { RECORDINGS } from '../helpers.js';

// The recorded real Patchwork 3.1.3 answers, byte for byte (status line,
// headers including Connection: close, body), fed through our client and
// the engine's reading of patches and events: no sandbox in between.

type Json = Record<string, unknown>;

/** A server that answers each path with one recorded .http file, verbatim. */
function replay(routes: Record<string, string>): Promise<Server> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const name = routes[path];
    if (!name) { res.writeHead(404, { 'content-type': 'application/json', connection: 'close' }); res.end('{"detail":"Not found."}'); return; }
    const http = readFileSync(join(RECORDINGS, `${name}.http`), 'latin1');
    const split = http.indexOf('\r\n\r\n');
    const [statusLine, ...headerLines] = http.slice(0, split).split('\r\n');
    const body = Buffer.from(http.slice(split + 4), 'latin1');
    const headers: Record<string, string> = {};
    for (const l of headerLines) {
      const k = l.slice(0, l.indexOf(':')).toLowerCase();
      if (k !== 'link' && k !== 'content-length') headers[k] = l.slice(l.indexOf(':') + 1).trim(); // one page: no Link
    }
    headers['content-length'] = String(body.length);
    res.writeHead(Number(statusLine!.split(' ')[1]), headers);
    res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const recorded = <T>(name: string): T => JSON.parse(readFileSync(join(RECORDINGS, `${name}.json`), 'utf8')) as T;

describe('recorded Patchwork 3.1.3 answers through our client and engine', function () {
  let server: Server;
  let client: PatchworkClient;
  before(async () => {
    server = await replay({
      '/api/1.3/patches/7074/': 'patch-detail',
      '/api/1.3/patches/': 'patches-list-series-7',
      '/api/1.3/events/': 'events-state-changed',
    });
    client = new PatchworkClient({ instance: 'recorded', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, retries: 0 });
    client.apiVersion = '1.3'; // as the state database would have it: no discovery requests
  });
  after(async () => { await client.close(); server.close(); });

  it('reads a recorded patch into the row the engine stores', async () => {
    const want = recorded<Json>('patch-detail');
    const p = await client.get<PwPatch>('patches/7074');
    const row = toRemote(p);
    const series = (want.series as Json[])[0]!;
    expect(row).to.include({
      msgid: (want.msgid as string).slice(1, -1), patch_id: want.id, remote: want.state, archived: want.archived ? 1 : 0,
      date: want.date, hash: want.hash, check_state: want.check, submitter: (want.submitter as Json).email,
      series_id: series.id, series_name: series.name, series_version: series.version,
    });
  });

  it('reads a recorded list page with its series and names', async () => {
    const want = recorded<Json[]>('patches-list-series-7');
    const got: PwPatch[] = [];
    await client.eachPage<PwPatch>('patches', { series: 7 }, (items) => void got.push(...items));
    expect(got.map((p) => toRemote(p).msgid)).to.deep.equal(want.map((p) => (p.msgid as string).slice(1, -1)));
    expect(got.map((p) => toRemote(p).series_name)).to.deep.equal(want.map((p) => ((p.series as Json[])[0]!).name));
  });

  it('reads recorded events: watched ones with the msgid and the new state, oldest first, and the server\'s time as the mark', async () => {
    const want = recorded<PwEvent[]>('events-state-changed');
    const read = await readEvents(client, 8, { date: null, ids: [] });
    expect(read.read).to.equal(want.length);
    const sorted = [...want].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.id - b.id)).filter((e) => WATCHED.has(e.category));
    expect(read.events.map((e) => [e.id, e.payload.patch?.msgid, e.payload.current_state])).to.deep.equal(
      sorted.map((e) => [e.id, (e.payload.patch as { msgid: string }).msgid, e.payload.current_state]));
    // The recording's Date header (Sat, 28 Nov 2026 15:43:45 GMT) in the events' naive UTC, not the newest event's date.
    expect(read.next.date).to.equal('2026-11-28T15:43:45');
    // The newest event (15:43:26) is older than the 5 s before it: no id to remember.
    expect(read.next.ids).to.deep.equal([]);
  });
});
