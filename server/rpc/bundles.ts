import { bundleAdd, bundleDelete, bundleMbox, bundleRemove, listMyBundles } from '../ops/bundles.js';
import type { Handler } from './handlers.js';
import { params } from './params.js';

// The bundle requests: translation to ops/bundles.ts, and which messages'
// tags changed (tagsChanged), nothing else.

const opt = (project: string | undefined) => (project === undefined ? {} : { project });

export const BUNDLE_HANDLERS: Record<string, Handler> = {
  bundles: async (state, raw) => {
    const p = params<{ project?: string; all?: boolean; cached?: boolean }>(raw, { project: 'string?', all: 'boolean?', cached: 'boolean?' });
    return { bundles: await listMyBundles(state.ready(), { ...opt(p.project), all: Boolean(p.all), cached: Boolean(p.cached) }) };
  },
  bundleAdd: async (state, raw) => {
    const p = params<{ name: string; messageIds: string[]; series?: boolean; project?: string }>(raw, { name: 'string', messageIds: 'string[]', series: 'boolean?', project: 'string?' });
    const result = await bundleAdd(state.ready(), p.name, p.messageIds, { ...opt(p.project), series: Boolean(p.series) });
    state.tagsChanged(result.messageIds);
    return result;
  },
  bundleRemove: async (state, raw) => {
    const p = params<{ name: string; messageIds: string[]; project?: string }>(raw, { name: 'string', messageIds: 'string[]', project: 'string?' });
    const result = await bundleRemove(state.ready(), p.name, p.messageIds, opt(p.project));
    state.tagsChanged(result.messageIds);
    return result;
  },
  bundleDelete: async (state, raw) => {
    const p = params<{ name: string; project?: string }>(raw, { name: 'string', project: 'string?' });
    const result = await bundleDelete(state.ready(), p.name, opt(p.project));
    state.tagsChanged(result.messageIds);
    return result;
  },
  bundleMbox: async (state, raw) => {
    const p = params<{ name: string; project?: string; download?: boolean }>(raw, { name: 'string', project: 'string?', download: 'boolean?' });
    return bundleMbox(state.ready(), p.name, { ...opt(p.project), download: Boolean(p.download) });
  },
};
