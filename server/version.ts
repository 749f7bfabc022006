import { readFileSync } from 'node:fs';

// Read once from package.json so `--version`, the User-Agent and the
// JSON-RPC `initialize` answer can never disagree.
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export const VERSION: string = pkg.version;
export const USER_AGENT = `pwnm-sync/${VERSION}`;
