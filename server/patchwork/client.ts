import type { Dispatcher, RetryHandler } from 'undici';
import { currentSignal, throwIfCancelled } from '../cancel.js';
import { PwnmError, type ErrorCode } from '../errors.js';
import { slugify } from '../tags.js';
import { USER_AGENT } from '../version.js';
import { mapLimit, sleep } from '../util.js';
import { timeline } from '../timeline.js';
import type { PwPatch, PwProject } from './types.js';

// A Patchwork REST client. Facts it is built on (test/fixtures/patchwork-3.1.3/NOTES.md):
// a bad token is 403 "Invalid token." even on GETs; URLs without a trailing
// slash cost a 301; per_page is capped at 250; pagination lives only in the
// Link header; a PATCH without Content-Type: application/json changes nothing.

export const API_VERSIONS = ['1.4', '1.3', '1.2', '1.1', '1.0'] as const;
export const PER_PAGE = 250;
/**
 * The API version patch lists are read at. 1.0's list has every field a
 * sync reads; 1.1 adds two URLs the server reverses per patch (comments,
 * web_url) and 1.2 the related patches: on 3.1.3 a 5,000-patch listing
 * cost gunicorn 8.1 CPU s at 1.0 and 9.1 at 1.3 (two runs, same
 * machine). The web URL is then the mbox URL without its last part
 * (remote.ts).
 */
export const LIST_API_VERSION = '1.0';

export interface ClientOptions {
  /** Instance name, for messages. */
  instance: string;
  /** Site URL without trailing slash. */
  url: string;
  token?: string;
  /** Parallel requests. */
  concurrency?: number;
  timeoutMs?: number;
  retries?: number;
  /** First retry delay; doubles each time. */
  retryBaseMs?: number;
  allowInsecureHttp?: boolean;
}

type Query = Record<string, string | number | undefined>;
type Method = 'GET' | 'PATCH' | 'POST' | 'DELETE';
/** undici, loaded on first use. */
interface Http { agent: Dispatcher; request: typeof import('undici').request; retry: typeof import('undici').interceptors.retry }

/** One page of a list: its items, the number of pages, and the server's time (see serverTime). */
export interface Page<T> { items: T[]; last: number; serverTime: string | undefined }

interface Response { status: number; headers: Record<string, string | string[] | undefined>; body: unknown }
/** An answer as it came, body read whole. */
interface Raw { status: number; headers: Response['headers']; text: string }
/** Requests sent for one call, retries included: the retry budget is shared by undici's retries and ours. */
interface Tries { attempts: number }

/**
 * What undici's retry interceptor retries (Retry-After honoured, capped at
 * a minute). Only GET: a PATCH or POST whose answer was lost may have been
 * applied, and a failed push is kept and retried by the sync anyway.
 * Network errors: resets, refusals, timeouts; not ENOTFOUND/EAI_AGAIN (in
 * undici's default list): retrying a name that does not resolve only
 * delays the answer.
 */
const RETRY = {
  methods: ['GET'],
  statusCodes: [429, 500, 502, 503, 504],
  errorCodes: ['ECONNRESET', 'ECONNREFUSED', 'ENETDOWN', 'ENETUNREACH', 'EHOSTDOWN', 'EHOSTUNREACH', 'EPIPE', 'ETIMEDOUT',
    'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'],
  maxTimeout: 60_000,
  timeoutFactor: 2,
  // The last failing answer comes back with its body (Patchwork's `detail`), not as an error.
  throwOnError: false,
} satisfies RetryHandler.RetryOptions;
const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

export class PatchworkClient {
  /** HTTP requests sent, retries included. */
  requests = 0;
  readonly instance: string;
  readonly url: string;
  apiVersion: string | undefined;
  /** The server's time (naive UTC) by the Date header of its latest answer, and when (our clock) that came. */
  private lastServerTime: { at: string; seenMs: number } | undefined;
  private readonly token: string | undefined;
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  private dispatcher: Promise<Http> | undefined;

  constructor(options: ClientOptions) {
    this.instance = options.instance;
    this.url = options.url.replace(/\/+$/, '');
    this.token = options.token;
    this.concurrency = options.concurrency ?? 4;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retries = options.retries ?? 4;
    this.retryBaseMs = options.retryBaseMs ?? 500;
    const parsed = new URL(this.url);
    if (this.token && parsed.protocol === 'http:' && !LOOPBACK.test(parsed.hostname) && !options.allowInsecureHttp) {
      throw new PwnmError('CONFIG', `${this.instance}: refusing to send the token over plain http to ${parsed.host}; use https, or set allow_insecure_http = true`);
    }
  }

  /** undici is loaded on the first request: a --local-only run never pays for it. */
  private http(): Promise<Http> {
    this.dispatcher ??= import('undici').then(({ Agent, request, interceptors }) => ({
      request,
      retry: interceptors.retry,
      agent: new Agent({
        connections: this.concurrency,
        keepAliveTimeout: 30_000,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        connectTimeout: this.timeoutMs,
      }),
    }));
    return this.dispatcher;
  }

  get canWrite(): boolean {
    return Boolean(this.token);
  }

  async close(): Promise<void> {
    if (this.dispatcher) await (await this.dispatcher).agent.close();
  }

  /** The server's time by an answer of the last `maxAgeMs` (our clock), if there was one. */
  recentServerTime(maxAgeMs: number): string | undefined {
    const last = this.lastServerTime;
    return last && Date.now() - last.seenMs <= maxAgeMs ? last.at : undefined;
  }

  /** Build an absolute API URL; every path ends in `/` to spare a 301. */
  apiUrl(path: string, query: Query = {}, version = this.apiVersion): string {
    const clean = path.replace(/^\/+|\/+$/g, '');
    const url = new URL(`${this.url}/api/${version ? `${version}/` : ''}${clean ? `${clean}/` : ''}`);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url.toString();
  }

  private fail(code: ErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown): PwnmError {
    return new PwnmError(code, `${this.instance}: ${message}`, { details: { instance: this.instance, ...details }, cause });
  }

  /** One request with retries for passing failures; errors are PwnmErrors. */
  async call(method: Method, url: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept: 'application/json' };
    if (this.token) headers.authorization = `Token ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const path = new URL(url).pathname + new URL(url).search;
    const tries: Tries = { attempts: 0 };
    const end = timeline.begin('fetch', `${method} ${path}`);
    try {
      const res = await this.callOnce(method, url, path, headers, body, tries);
      const at = serverTime(res.headers.date);
      if (at) this.lastServerTime = { at, seenMs: Date.now() };
      return res;
    } finally {
      end();
    }
  }

  private async callOnce(method: Method, url: string, path: string, headers: Record<string, string>, body: unknown, tries: Tries): Promise<Response> {
    for (;;) {
      const { status, headers: resHeaders, text } = await this.exchange(method, url, headers, body === undefined ? null : JSON.stringify(body), tries);
      const contentType = String(resHeaders['content-type'] ?? '');
      let parsed: unknown;
      let jsonError: unknown;
      if (contentType.includes('json')) {
        try {
          parsed = JSON.parse(text);
        } catch (err) {
          jsonError = err;
        }
      }
      // A DELETE's 204 has no body at all.
      if (status === 204) return { status, headers: resHeaders, body: undefined };
      if (status >= 200 && status < 300) {
        if (contentType.includes('json') && jsonError === undefined) return { status, headers: resHeaders, body: parsed };
        const what = contentType.includes('json') ? 'truncated or malformed JSON' : `a ${contentType.split(';')[0] || 'non-JSON'} page instead of JSON (an anti-bot wall or a proxy login?)`;
        // undici never reads bodies: a 200 with broken JSON is retried here.
        if (contentType.includes('json') && (await this.again(method, tries))) continue;
        throw this.fail('NOT_JSON', `${method} ${path} answered with ${what}`, { method, path, status });
      }
      throw this.statusError(method, path, status, resHeaders, parsed, text);
    }
  }

  /**
   * One exchange, its body read whole. undici's retry interceptor retries
   * what fails before an answer starts (see RETRY). An answer cut off
   * mid-body is retried here: undici can only resume one with a Range
   * request, which Patchwork's API and mbox views ignore (a 200 again, which
   * undici then refuses), so the whole request is sent once more.
   */
  private async exchange(method: string, url: string, headers: Record<string, string>, body: string | null, tries: Tries): Promise<Raw> {
    const path = new URL(url).pathname + new URL(url).search;
    const { agent, request, retry } = await this.http();
    for (;;) {
      const dispatcher = agent.compose(
        // Innermost, so it sees every attempt the retry interceptor makes.
        (dispatch) => (opts, handler) => {
          tries.attempts++;
          this.requests++;
          return dispatch(opts, handler);
        },
        retry({ ...RETRY, maxRetries: Math.max(0, this.retries - tries.attempts), minTimeout: this.retryBaseMs }),
      );
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, { method: method as Dispatcher.HttpMethod, headers, body, dispatcher, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs, signal: currentSignal() ?? null });
      } catch (err) {
        // Aborted because the request this serves was cancelled (server/cancel.ts): not a network failure.
        throwIfCancelled();
        throw this.unreachable(err, method, path, tries.attempts);
      }
      try {
        return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
      } catch (err) {
        throwIfCancelled();
        if (!(await this.again(method, tries))) throw this.unreachable(err, method, path, tries.attempts, 'answers cut off mid-body');
      }
    }
  }

  /** Whether to send a GET once more after a failure undici does not see; waits first. */
  private async again(method: string, tries: Tries): Promise<boolean> {
    throwIfCancelled();
    if (!(RETRY.methods as string[]).includes(method) || tries.attempts > this.retries) return false;
    await sleep(this.retryBaseMs * 2 ** (tries.attempts - 1));
    return true;
  }

  private unreachable(err: unknown, method: string, path: string, attempts: number, why?: string): PwnmError {
    const dns = dnsFailure(err);
    if (dns) {
      const host = new URL(this.url).hostname;
      return this.fail('UNREACHABLE', `Patchwork at ${this.url} is unreachable: the host name ${host} does not resolve (${dns}): a typo in the url, or no network?`, { method, path }, err);
    }
    const reason = why ?? (err as { code?: string }).code ?? (err as Error).message;
    return this.fail('UNREACHABLE', `Patchwork at ${this.url} is unreachable (${reason}) after ${attempts} attempt${attempts === 1 ? '' : 's'}`, { method, path }, err);
  }

  private statusError(method: string, path: string, status: number, headers: Response['headers'], parsed: unknown, text: string): PwnmError {
    const detail = typeof parsed === 'object' && parsed !== null && 'detail' in parsed ? String((parsed as { detail: unknown }).detail) : undefined;
    const details = { method, path, status, body: parsed ?? text.slice(0, 500) };
    if (status === 403 && detail === 'Invalid token.') {
      return this.fail('AUTH', `Patchwork rejected the token (Invalid token.); check the token for ${this.instance}`, details);
    }
    if (status === 403) return this.fail('FORBIDDEN', detail ?? 'permission denied', details);
    if (status === 404) return this.fail('NOT_FOUND', `${method} ${path}: ${detail ?? 'not found'}`, details);
    if (status === 400) return this.fail('BAD_REQUEST', `${method} ${path} was refused: ${summarize(parsed) ?? text.slice(0, 200)}`, details);
    if (status >= 300 && status < 400) {
      return this.fail('HTTP', `${method} ${path} was redirected to ${String(headers.location)}; check the instance URL ${this.url}`, details);
    }
    return this.fail('HTTP', `${method} ${path} answered ${status}${detail ? ` (${detail})` : ''}`, details);
  }

  /** The highest API version the server offers (filters newer than the version in use are silently dropped). */
  async discover(): Promise<string> {
    if (this.apiVersion) return this.apiVersion;
    for (const version of API_VERSIONS) {
      try {
        await this.call('GET', this.apiUrl('', {}, version));
        this.apiVersion = version;
        return version;
      } catch (err) {
        if (!(err instanceof PwnmError && err.code === 'NOT_FOUND')) throw err;
      }
    }
    throw this.fail('NOT_FOUND', `${this.url} has no Patchwork REST API (tried /api/${API_VERSIONS[0]}/ to /api/1.0/); check the instance URL`);
  }

  async get<T>(path: string, query: Query = {}): Promise<T> {
    await this.discover();
    return (await this.call('GET', this.apiUrl(path, query))).body as T;
  }

  /**
   * One page of a list (`per_page` as the query says, else Patchwork's
   * default), with the page count from its Link header and the server's
   * time from its Date header.
   */
  async page<T>(path: string, query: Query, version?: string): Promise<Page<T>> {
    await this.discover();
    const res = await this.call('GET', this.apiUrl(path, query, version ?? this.apiVersion));
    return { items: res.body as T[], last: lastPage(res.headers.link), serverTime: serverTime(res.headers.date) };
  }

  /**
   * Every page of a list, `onPage` called as each page arrives (not in
   * order), the first one with the server's time of its answer. Page URLs
   * are built from our base URL: the Link header is read for the page
   * count only, never followed. `firstPages`: a caller that knows the list
   * is long asks for that many pages at once (the Link header comes with
   * the first); a guessed page past the end is a 404, ignored. `version`:
   * another API version than the one in use (LIST_API_VERSION).
   */
  async eachPage<T>(path: string, query: Query, onPage: (items: T[], page: number, serverTime?: string) => Promise<void> | void, options: { firstPages?: number; version?: string } = {}): Promise<number> {
    await this.discover();
    const version = options.version ?? this.apiVersion;
    const fetchPage = async (page: number): Promise<T[] | undefined> => {
      try {
        return (await this.call('GET', this.apiUrl(path, { ...query, per_page: PER_PAGE, page }, version))).body as T[];
      } catch (err) {
        // The list shrank while we paged through it (or was shorter than a caller guessed).
        if (err instanceof PwnmError && err.code === 'NOT_FOUND') return undefined;
        throw err;
      }
    };
    const early = new Map<number, Promise<T[] | undefined>>();
    for (let page = 2; page <= Math.min(options.firstPages ?? 1, this.concurrency); page++) {
      const answer = fetchPage(page);
      answer.catch(() => undefined); // awaited below, unless the first page fails
      early.set(page, answer);
    }
    const first = await this.page<T>(path, { ...query, per_page: PER_PAGE }, version);
    const last = first.last;
    await onPage(first.items, 1, first.serverTime);
    const rest = Array.from({ length: Math.max(0, last - 1, early.size) }, (_, i) => i + 2);
    await mapLimit(rest, this.concurrency, async (page) => {
      const guessed = early.get(page);
      early.delete(page);
      const items = await (guessed ?? fetchPage(page));
      if (items && page <= last) await onPage(items, page);
    });
    return last;
  }

  async project(linkName: string): Promise<PwProject> {
    let found: PwProject | undefined;
    const names: string[] = [];
    await this.eachPage<PwProject>('projects', {}, (items) => {
      for (const p of items) {
        names.push(p.link_name);
        if (p.link_name === linkName) found = p;
      }
    });
    if (!found) {
      throw this.fail('PROJECT_UNKNOWN', `no project "${linkName}" (it has ${names.length} project${names.length === 1 ? '' : 's'}${names.length ? `: ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', ...' : ''}` : ''}); check the sync setting`, { project: linkName });
    }
    return found;
  }

  /**
   * A web view's text (an mbox file), with retries as for the API. The token
   * goes in the Authorization header, never in the URL, and only when `auth`
   * (a bundle's mbox needs it; a patch's or series' does not) and only to this
   * instance's own origin.
   */
  async download(url: string, options: { auth?: boolean } = {}): Promise<string> {
    const target = new URL(url);
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept: 'text/plain, application/mbox' };
    if (options.auth && this.token && target.origin === new URL(this.url).origin) headers.authorization = `Token ${this.token}`;
    const path = target.pathname + target.search;
    const { status, headers: resHeaders, text } = await this.exchange('GET', target.toString(), headers, null, { attempts: 0 });
    const type = String(resHeaders['content-type'] ?? '');
    if (status >= 200 && status < 300 && !type.includes('html')) return text;
    if (status >= 200 && status < 300) throw this.fail('NOT_JSON', `GET ${path} answered with an HTML page instead of an mbox (an anti-bot wall or a proxy login?)`, { method: 'GET', path, status });
    throw this.statusError('GET', path, status, resHeaders, undefined, text.slice(0, 200));
  }

  /** PATCH a patch and check that the server really took the change. */
  async updatePatch(id: number, fields: Partial<Pick<PwPatch, 'state' | 'archived' | 'commit_ref'>> & { delegate?: number | null }, project: string): Promise<PwPatch> {
    await this.discover();
    let res: Response;
    try {
      res = await this.call('PATCH', this.apiUrl(`patches/${id}`), fields);
    } catch (err) {
      if (err instanceof PwnmError && err.code === 'FORBIDDEN') {
        throw new PwnmError('FORBIDDEN', `${this.instance}: not a maintainer of ${project}: Patchwork refused to change patch ${id}`, { details: err.details, cause: err });
      }
      throw err;
    }
    const patch = res.body as PwPatch;
    if (fields.state !== undefined && slugify(patch.state) !== slugify(fields.state)) {
      throw this.fail('HTTP', `patch ${id} still shows state ${patch.state} after setting ${fields.state}`, { project });
    }
    return patch;
  }
}

/**
 * The server's clock from a Date header, as a naive UTC date in whole
 * seconds, the way Patchwork writes event dates ('2026-11-28T15:43:26');
 * undefined without a valid one.
 */
export function serverTime(date: string | string[] | undefined): string | undefined {
  const ms = typeof date === 'string' ? Date.parse(date) : NaN;
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString().slice(0, 19);
}

/** The page number of rel="last" in a Link header, 1 if there is none. */
export function lastPage(link: string | string[] | undefined): number {
  const text = Array.isArray(link) ? link.join(', ') : link ?? '';
  for (const part of text.split(',')) {
    const m = /<([^>]*)>\s*;\s*rel="?last"?/.exec(part);
    if (m) {
      const page = Number(new URL(m[1]!, 'http://x/').searchParams.get('page') ?? '1');
      return Number.isInteger(page) && page > 0 ? page : 1;
    }
  }
  return 1;
}

function summarize(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  return Object.entries(body as Record<string, unknown>).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(' ') : String(v)}`).join('; ');
}

/** The DNS error code ('ENOTFOUND', 'EAI_AGAIN') of a failed request, if that is why it failed. */
function dnsFailure(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return e.code;
  }
  return undefined;
}
