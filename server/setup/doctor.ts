import { existsSync } from 'node:fs';
import { loadConfig, type ConfigOverrides, type InstanceConfig } from '../config.js';
import { learntMe, meReason } from '../sync/bundles.js';
import { PwnmError, errorMessage } from '../errors.js';
import { Session } from '../session.js';
import { hookFile, hookInstalled } from './hook.js';

// `pwnm-sync doctor`: check each part a sync needs, say what is wrong and
// how to fix it. Every check runs even when an earlier one failed.

export interface Check { ok: boolean; what: string; detail: string; fix?: string }

export async function doctor(overrides: ConfigOverrides, env: NodeJS.ProcessEnv = process.env): Promise<Check[]> {
  const checks: Check[] = [];
  let session: Session | undefined;
  try {
    const { config, warnings } = loadConfig(overrides, env);
    checks.push({ ok: config.instances.length > 0, what: 'config', detail: config.file ?? 'no config file (command-line flags only)', ...(config.instances.length ? {} : { fix: 'write ~/.config/pwnm-sync/config.ini (see README "Configure")' }) });
    for (const w of warnings) checks.push({ ok: false, what: 'config', detail: w });
    session = new Session(config, { env });
    checks.push({ ok: true, what: 'state database', detail: config.stateDb });
  } catch (err) {
    checks.push({ ok: false, what: 'config', detail: errorMessage(err), fix: 'fix the line named above' });
    return checks;
  }
  try {
    const path = session.config.notmuchDatabase ?? (await session.notmuch.databasePath());
    // notmuch with no config file prints nothing for database.path, and exits 0.
    if (!path) throw new PwnmError('NOTMUCH_FAILED', 'notmuch is not set up (it has no config file)', { details: { fix: 'notmuch setup' } });
    if (!existsSync(path)) throw new PwnmError('NOTMUCH_FAILED', `the notmuch database directory ${path} does not exist`, { details: { fix: `mkdir -p ${path} && notmuch new, or set notmuch_database to your mail directory` } });
    const [count] = await session.notmuch.count(['*']);
    checks.push({ ok: true, what: 'notmuch', detail: `${path}: ${count} messages` });
    const hook = await hookFile(session.notmuch);
    checks.push({ ok: hookInstalled(hook), what: 'post-new hook', detail: hook, ...(hookInstalled(hook) ? {} : { fix: 'pwnm-sync hook install (optional: tags new mail at once)' }) });
  } catch (err) {
    const fix = err instanceof PwnmError && typeof err.details.fix === 'string' ? err.details.fix : 'install notmuch and run notmuch setup, or set notmuch_database';
    checks.push({ ok: false, what: 'notmuch', detail: errorMessage(err), fix });
  }
  for (const inst of session.config.instances) {
    try {
      const client = await session.client(inst);
      const version = await client.discover();
      if (!client.canWrite) {
        checks.push({ ok: false, what: `${inst.name} token`, detail: 'no token: read-only (local changes wait)', fix: `add token or token_command to [instance ${inst.name}], or set PWNM_SYNC_TOKEN` });
      } else {
        // Patchwork refuses a bad token on any authenticated request, GETs included.
        await client.get('users', { per_page: 1 });
        checks.push({ ok: true, what: `${inst.name} token`, detail: `accepted by ${inst.url} (API ${version})` });
      }
      for (const p of inst.projects) {
        const project = await client.project(p.linkName);
        checks.push({ ok: true, what: `${inst.name} project ${p.linkName}`, detail: `id ${project.id}, list ${project.list_email}` });
      }
      if ((inst.tagBundles ?? session.config.tags.bundles) !== 'off') checks.push(meCheck(session, inst));
    } catch (err) {
      const fix = err instanceof PwnmError && err.code === 'AUTH' ? `get a new token from ${inst.url}/user/ and put it in the config` : undefined;
      checks.push({ ok: false, what: inst.name, detail: errorMessage(err), ...(fix ? { fix } : {}) });
    }
  }
  await session.close();
  return checks;
}

/** Who `me` is: bundle tags need it. Not knowing it is no failure (the rest works), but doctor says so. */
function meCheck(session: Session, inst: InstanceConfig): Check {
  const what = `${inst.name} me`;
  if (inst.me) return { ok: true, what, detail: `${inst.me} (config)` };
  const learnt = learntMe(session, inst.name);
  if (learnt) return { ok: true, what, detail: `${learnt} (learnt from your private bundles on ${inst.url})` };
  return { ok: true, what, detail: 'unknown yet', fix: meReason(inst.name) };
}

export function formatChecks(checks: readonly Check[]): string {
  return checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.what}: ${c.detail}${c.fix ? `\n     fix: ${c.fix}` : ''}`).join('\n');
}
