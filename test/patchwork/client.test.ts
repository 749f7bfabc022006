import { expect } from 'chai';
import { PwnmError } from '../../server/errors.js';
import { PatchworkClient, lastPage } from '../../server/patchwork/client.js';
import type { PwPatch } from '../../server/patchwork/types.js';
import { Sandbox } from '../../server/sandbox/server.js';

describe('Patchwork client', function () {
  let sandbox: Sandbox;
  let projectId: number;
  const token = 'tok-0123456789abcdef';
  beforeEach(async () => {
    sandbox = new Sandbox();
    await sandbox.start();
    const maint = sandbox.data.addUser({ username: 'maint', token });
    const project = sandbox.data.addProject({ link_name: 'skiboot', list_email: 'skiboot@lists.ozlabs.org', maintainers: [maint.id] });
    projectId = project.id;
    const person = sandbox.data.addPerson('A', 'a@example.org');
    for (let i = 0; i < 600; i++) sandbox.data.addPatch({ project: project.id, msgid: `<p${i}@x>`, name: `p${i}`, submitter: person.id, date: '2026-01-01T00:00:00' }, true);
  });
  afterEach(() => sandbox.stop());

  const client = (over: Partial<ConstructorParameters<typeof PatchworkClient>[0]> = {}): PatchworkClient =>
    new PatchworkClient({ instance: 'sandbox', url: sandbox.url, token, retries: 3, retryBaseMs: 5, timeoutMs: 2000, ...over });
  const failure = async (promise: Promise<unknown>): Promise<PwnmError> => {
    try { await promise; } catch (err) { return err as PwnmError; }
    throw new Error('no error');
  };

  it('uses the highest API version the server offers', async () => {
    sandbox.versions = ['1.0', '1.1'];
    const c = client();
    expect(await c.discover()).to.equal('1.1');
    await c.close();
  });

  it('reads every page at per_page 250, sends no URL without a trailing slash, and never sends a 301-bound request', async () => {
    const c = client();
    const ids: number[] = [];
    const last = await c.eachPage<PwPatch>('patches', { project: projectId }, (items) => void ids.push(...items.map((p) => p.id)));
    expect(last).to.equal(3);
    expect(ids.sort((a, b) => a - b)).to.have.length(600);
    expect(sandbox.log.every((r) => new URL(r.url, 'http://x').pathname.endsWith('/'))).to.equal(true);
    expect(sandbox.log.filter((r) => r.url.includes('/patches/')).every((r) => r.url.includes('per_page=250'))).to.equal(true);
    await c.close();
  });

  it('asks for the first pages at once when told the list is long, and reads each page once', async () => {
    sandbox.delayMs = 50;
    const c = client();
    const ids: number[] = [];
    const pages = (): string[] => sandbox.log.filter((r) => r.url.includes('/patches/')).map((r) => new URL(r.url, 'http://x').searchParams.get('page') ?? '1');
    let seenWithFirst: string[] = [];
    await c.eachPage<PwPatch>('patches', { project: projectId }, (items, page) => {
      if (page === 1) seenWithFirst = pages();
      ids.push(...items.map((p) => p.id));
    }, { firstPages: 2 });
    expect(ids).to.have.length(600);
    expect(new Set(ids).size).to.equal(600);
    expect(pages().sort()).to.deep.equal(['1', '2', '3']);
    // Page 2 went out before page 1's answer (and its Link header) came back.
    expect(seenWithFirst.sort()).to.deep.equal(['1', '2']);
    await c.close();
  });

  it('ignores a guessed page past the end of a short list', async () => {
    const c = client();
    const ids: number[] = [];
    const last = await c.eachPage<PwPatch>('patches', { project: projectId, since: '2030-01-01T00:00:00' }, (items) => void ids.push(...items.map((p) => p.id)), { firstPages: 2 });
    expect(last).to.equal(1);
    expect(ids).to.deep.equal([]);
    expect(sandbox.log.filter((r) => r.url.includes('/patches/'))).to.have.length(2);
    await c.close();
  });

  it('builds page URLs itself: a Link pointing elsewhere is never followed', async () => {
    sandbox.faults.push({ path: /patches\/\?/, times: 1, status: 200, body: '[]', headers: { Link: '<http://evil.example.org/api/1.3/patches/?page=2>; rel="next", <http://evil.example.org/api/1.3/patches/?page=2>; rel="last"' } });
    const c = client();
    let pages = 0;
    await c.eachPage('patches', { project: projectId }, () => void pages++);
    expect(pages).to.equal(2);
    expect(sandbox.log.filter((r) => /[?&]page=2(&|$)/.test(r.url))).to.have.length(1);
    await c.close();
  });

  it('says a rejected token is wrong, naming the instance', async () => {
    const err = await failure(client({ token: 'wrong-token-xyz' }).get('patches'));
    expect(err.code).to.equal('AUTH');
    expect(err.message).to.equal('sandbox: Patchwork rejected the token (Invalid token.); check the token for sandbox');
    expect(JSON.stringify({ m: err.message, d: err.details })).not.to.include('wrong-token-xyz');
  });

  it('retries 5xx answers and honours Retry-After on 429', async () => {
    sandbox.faults.push({ path: /patches/, times: 2, status: 503, body: 'busy', contentType: 'text/html' });
    sandbox.faults.push({ path: /patches/, times: 1, status: 429, body: '{"detail":"slow down"}', headers: { 'Retry-After': '1' } });
    const c = client();
    const started = Date.now();
    const items = await c.get<PwPatch[]>('patches', { project: projectId });
    expect(items).to.have.length(30);
    expect(Date.now() - started).to.be.at.least(900);
    // Every request counts, the ones undici's retry interceptor resends too: discovery (/api/1.4/ is a 404 on a 3.1.3, then /api/1.3/), 503, 503, 429, 200.
    expect(c.requests).to.equal(6);
    await c.close();
  });

  it('sends a PATCH once: a 503 may hide a change that was applied, so it is not resent', async () => {
    sandbox.faults.push({ method: 'PATCH', times: 1, status: 503, body: '{"detail":"busy"}' });
    const c = client();
    const err = await failure(c.updatePatch(1, { state: 'accepted' }, 'skiboot'));
    expect(err.message).to.equal('sandbox: PATCH /api/1.3/patches/1/ answered 503 (busy)');
    expect(sandbox.log.filter((r) => r.method === 'PATCH')).to.have.length(1);
    await c.close();
  });

  it('gives up on a server that keeps failing, saying so', async () => {
    sandbox.faults.push({ path: /patches/, times: Infinity, status: 502, body: '{"detail":"bad gateway"}' });
    const err = await failure(client().get('patches'));
    expect(err.code).to.equal('HTTP');
    expect(err.message).to.match(/^sandbox: GET \/api\/1\.3\/patches\/ answered 502 \(bad gateway\)$/);
  });

  it('reports an anti-bot HTML page as such', async () => {
    sandbox.faults.push({ path: /patches/, times: Infinity, status: 200, body: '<html>Checking your browser</html>', contentType: 'text/html; charset=utf-8' });
    const err = await failure(client().get('patches'));
    expect(err.code).to.equal('NOT_JSON');
    expect(err.message).to.match(/answered with a text\/html page instead of JSON \(an anti-bot wall/);
  });

  it('retries truncated JSON and a connection reset mid-body', async () => {
    sandbox.faults.push({ path: /patches/, times: 1, status: 200, body: '[{"id":1,' });
    sandbox.faults.push({ path: /patches/, times: 1, status: 200, body: '[{"id":1,"name":"x"}]', resetAfter: 5 });
    const c = client();
    expect(await c.get<PwPatch[]>('patches', { project: projectId })).to.have.length(30);
    await c.close();
  });

  it('times out a stalled answer and says the server is unreachable', async () => {
    sandbox.faults.push({ path: /patches/, times: Infinity, stallMs: 1500 });
    const err = await failure(client({ timeoutMs: 300, retries: 1 }).get('patches'));
    expect(err.code).to.equal('UNREACHABLE');
    expect(err.message).to.match(/^sandbox: Patchwork at http:\/\/127\.0\.0\.1:\d+ is unreachable \(.*\) after 2 attempts$/);
  });

  it('fails at once on a host name that does not resolve, naming the host and the usual causes', async () => {
    // .invalid never resolves (RFC 6761); without a network the lookup fails with EAI_AGAIN instead.
    const c = client({ url: 'https://patchwork.invalid', retries: 4, retryBaseMs: 2000 });
    const err = await failure(c.get('patches'));
    expect(err.code).to.equal('UNREACHABLE');
    expect(err.message).to.match(/^sandbox: Patchwork at https:\/\/patchwork\.invalid is unreachable: the host name patchwork\.invalid does not resolve \((ENOTFOUND|EAI_AGAIN)\): a typo in the url, or no network\?$/);
    expect(c.requests).to.equal(1);
    await c.close();
  });

  it('refuses to send a token over plain http to a non-loopback host', () => {
    expect(() => new PatchworkClient({ instance: 'far', url: 'http://patchwork.example.org', token })).to.throw(/refusing to send the token over plain http to patchwork\.example\.org/);
    expect(() => new PatchworkClient({ instance: 'far', url: 'http://patchwork.example.org', token, allowInsecureHttp: true })).not.to.throw();
  });

  it('names an unknown project and lists the known ones', async () => {
    const err = await failure(client().project('skibot'));
    expect(err.code).to.equal('PROJECT_UNKNOWN');
    expect(err.message).to.equal('sandbox: no project "skibot" (it has 1 project: skiboot); check the sync setting');
  });

  it('checks that a PATCH really changed the state, and names the project on a 403', async () => {
    const c = client();
    const patch = await c.updatePatch(1, { state: 'Changes Requested' }, 'skiboot');
    expect(patch.state).to.equal('changes-requested');
    sandbox.data.addUser({ username: 'other', token: 'other-token-123456' });
    const err = await failure(client({ token: 'other-token-123456' }).updatePatch(1, { state: 'accepted' }, 'skiboot'));
    expect(err.code).to.equal('FORBIDDEN');
    expect(err.message).to.equal('sandbox: not a maintainer of skiboot: Patchwork refused to change patch 1');
    // The facts for logs and JSON-RPC data: the request and Patchwork's answer.
    expect(err.details).to.deep.include({ instance: 'sandbox', method: 'PATCH', path: '/api/1.3/patches/1/', status: 403 });
    expect(sandbox.data.patches.get(1)!.state).to.equal('changes-requested');
    await c.close();
  });

  it('reads the last page from a Link header', () => {
    expect(lastPage('<http://x/api/1.3/patches/?page=2&per_page=5>; rel="next", <http://x/api/1.3/patches/?page=1&per_page=5>; rel="first", <http://x/api/1.3/patches/?page=1974&per_page=5>; rel="last"')).to.equal(1974);
    expect(lastPage(undefined)).to.equal(1);
  });
});
