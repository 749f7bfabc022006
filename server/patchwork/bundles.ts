import { PwnmError } from '../errors.js';
import type { PatchworkClient } from './client.js';
import type { PwUser } from './types.js';

// Patchwork's bundles (api/bundle.py, 3.1.3): listed from API 1.0, written
// from 1.2. A write sends the whole patch list; a bundle is never empty and
// holds one project's patches; only its owner may change or delete it.

export interface PwBundle {
  id: number;
  name: string;
  public: boolean;
  owner: PwUser;
  project: { id: number; link_name: string };
  patches: { id: number; msgid: string }[];
  mbox: string;
  web_url?: string;
}

/** The bundles the token's user sees (public ones and its own), `owner` and `project` filters as given. */
export async function listBundles(client: PatchworkClient, filter: { owner?: string; project?: string } = {}): Promise<PwBundle[]> {
  const all: PwBundle[] = [];
  await client.eachPage<PwBundle>('bundles', filter, (items) => { all.push(...items); });
  return all.sort((a, b) => a.id - b.id);
}

export async function getBundle(client: PatchworkClient, id: number): Promise<PwBundle> {
  return client.get<PwBundle>(`bundles/${id}`);
}

/** Writes need API 1.2: older versions answer 405. */
async function writable(client: PatchworkClient): Promise<void> {
  const version = await client.discover();
  if (Number(version) < 1.2) throw new PwnmError('BAD_REQUEST', `${client.instance}: Patchwork offers REST API ${version}; changing bundles needs 1.2 or later`);
}

export async function createBundle(client: PatchworkClient, name: string, patchIds: readonly number[]): Promise<PwBundle> {
  await writable(client);
  return (await client.call('POST', client.apiUrl('bundles'), { name, public: false, patches: patchIds })).body as PwBundle;
}

/** Replace the bundle's patch list (never empty: the server refuses that). */
export async function setBundlePatches(client: PatchworkClient, id: number, patchIds: readonly number[]): Promise<PwBundle> {
  await writable(client);
  return (await client.call('PATCH', client.apiUrl(`bundles/${id}`), { patches: patchIds })).body as PwBundle;
}

export async function deleteBundle(client: PatchworkClient, id: number): Promise<void> {
  await writable(client);
  await client.call('DELETE', client.apiUrl(`bundles/${id}`));
}
