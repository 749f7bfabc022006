import type { Config, InstanceConfig } from './config.js';
import { resolveToken } from './config.js';
import { PwnmError } from './errors.js';
import { holdSecret } from './secrets.js';
import { Notmuch } from './notmuch/notmuch.js';
import { PatchworkClient, type ClientOptions } from './patchwork/client.js';
import { Store } from './store/store.js';
import { TagScheme } from './tags.js';

// What a command needs, opened once: the config, the state database, the
// notmuch adapter and one Patchwork client per instance. Shared by the CLI
// and the JSON-RPC server so that both run the same domain code.

export interface SessionOptions {
  /** Tokens given by a client (Emacs auth-source), by instance name or URL; memory only. */
  tokens?: Record<string, string>;
  env?: NodeJS.ProcessEnv;
  /** Client tuning, for tests. */
  client?: Partial<Pick<ClientOptions, 'retries' | 'retryBaseMs' | 'timeoutMs'>>;
}

export class Session {
  readonly store: Store;
  readonly notmuch: Notmuch;
  readonly scheme: TagScheme;
  private readonly clients = new Map<string, Promise<PatchworkClient>>();
  /** Full syncs running in this process. */
  syncing = 0;
  /** Messages that a push or set-state handled while a sync ran: the sync leaves them alone. */
  readonly claimed = new Set<string>();

  constructor(readonly config: Config, private options: SessionOptions = {}) {
    for (const token of Object.values(options.tokens ?? {})) holdSecret(token);
    this.store = new Store(config.stateDb);
    const nm: ConstructorParameters<typeof Notmuch>[0] = { lockTimeoutMs: config.lockTimeout * 1000 };
    if (config.notmuchDatabase) nm.database = config.notmuchDatabase;
    if (options.env) nm.env = options.env;
    this.notmuch = new Notmuch(nm);
    this.scheme = new TagScheme(config.tagPrefix, config.instances.flatMap((i) => i.projects.map((p) => p.linkName)));
  }

  instance(name: string): InstanceConfig {
    const inst = this.config.instances.find((i) => i.name === name);
    if (!inst) throw new PwnmError('CONFIG', `no instance named ${name} in ${this.config.file ?? 'the config'}`);
    return inst;
  }

  /** Instances and projects selected by name (all when none given). */
  select(projects?: readonly string[]): { instance: InstanceConfig; project: string; list?: string }[] {
    const all = this.config.instances.flatMap((instance) => instance.projects.map((p) => ({ instance, project: p.linkName, ...(p.list ? { list: p.list } : {}) })));
    if (!projects || projects.length === 0) return all;
    for (const name of projects) {
      if (!all.some((s) => s.project === name)) {
        throw new PwnmError('USAGE', `project ${name} is not in the sync setting of ${this.config.file ?? 'the config'} (configured: ${all.map((s) => s.project).join(', ') || 'none'})`);
      }
    }
    return all.filter((s) => projects.includes(s.project));
  }

  client(instance: InstanceConfig): Promise<PatchworkClient> {
    let client = this.clients.get(instance.name);
    if (!client) {
      client = (async () => {
        const given = this.options.tokens?.[instance.name] ?? this.options.tokens?.[instance.url];
        const token = await resolveToken(instance, given);
        const options: ClientOptions = {
          instance: instance.name,
          url: instance.url,
          concurrency: this.config.concurrency,
          allowInsecureHttp: instance.allowInsecureHttp,
          ...this.options.client,
        };
        if (token) options.token = token;
        return new PatchworkClient(options);
      })();
      client.catch(() => this.clients.delete(instance.name));
      this.clients.set(instance.name, client);
    }
    return client;
  }

  /** Take more tokens from the client (by instance name or URL); the instances they name get a new client. */
  addTokens(tokens: Record<string, string>): void {
    for (const token of Object.values(tokens)) holdSecret(token);
    this.options.tokens = { ...this.options.tokens, ...tokens };
    for (const inst of this.config.instances) {
      const client = this.clients.get(inst.name);
      if (!client || !(inst.name in tokens || inst.url in tokens)) continue;
      this.clients.delete(inst.name);
      // A sync may still use the old client: it closes once nothing holds it.
      if (this.syncing === 0) void client.then((c) => c.close(), () => undefined);
    }
  }

  /** Whether pushes to this instance are possible (a token is configured or was given). */
  hasToken(inst: InstanceConfig): boolean {
    return Boolean(inst.token || inst.tokenCommand || this.options.tokens?.[inst.name] || this.options.tokens?.[inst.url]);
  }

  /** Claim messages for a focused change, so that a running sync does not undo it. */
  claim(msgids: Iterable<string>): void {
    if (this.syncing > 0) for (const id of msgids) this.claimed.add(id);
  }

  async close(): Promise<void> {
    for (const c of this.clients.values()) await c.then((client) => client.close(), () => undefined);
    this.store.close();
  }
}
