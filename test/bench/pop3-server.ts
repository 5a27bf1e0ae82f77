// The POP3 server for the POP3 benchmark, in a process of its own (as Dovecot runs in its own), so that
// the benchmark's client does not share its event loop: `pop3-server.ts MAILROOT DATADIR USER PASSWORD`
// prints "listening PORT" and serves until killed. AUTH_CACHE_TTL sets mailhost.auth_cache_ttl (default: the default).
import { loadConfig } from '../../src/config/load.ts';
import { createUserDirectory } from '../../src/mailhost/directory.ts';
import { hashPassword } from '../../src/mailhost/password.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { createPop3Server } from '../../src/pop3/server.ts';
import { createMaildirStore } from '../../src/store/maildir-store.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';

const [mailRoot, dataDir, user, password] = process.argv.slice(2);
if (!mailRoot || !dataDir || !user || !password) throw new Error('usage: pop3-server.ts MAILROOT DATADIR USER PASSWORD');
const users = { [user]: { password: await hashPassword(password) } };
const domain = user.slice(user.indexOf('@') + 1);
const { config } = loadConfig({ inline: { local_domains: [domain], users, mailhost: { watch_files: false, ...(process.env.AUTH_CACHE_TTL ? { auth_cache_ttl: process.env.AUTH_CACHE_TTL } : {}) } }, dataDir });
const directory = createUserDirectory({ config, dataDir, log: silentLogger });
const server = createPop3Server({ store: createMaildirStore({ root: mailRoot, fsync: false }), users: directory, hostname: 'bench.local', registry: createRegistry(false), log: silentLogger, clock: systemClock });
await server.listen(0, '127.0.0.1');
process.stdout.write(`listening ${server.address()?.port ?? 0}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
