// What the bundle (scripts/bundle.mjs) takes from undici: the parts
// server/patchwork/client.ts uses, without undici's index, which loads all
// of undici. `request(url, options)` works as undici's own (its index.js,
// makeDispatcher) for what the client passes.
import Agent from 'undici/lib/dispatcher/agent.js';
import apiRequest from 'undici/lib/api/api-request.js';
import retry from 'undici/lib/interceptor/retry.js';

export { Agent };
export const interceptors = { retry };

export function request(url, options) {
  const { origin, pathname, search } = new URL(url);
  return apiRequest.call(options.dispatcher, { ...options, origin, path: `${pathname}${search}`, method: options.method || 'GET' });
}
