// Starts the ManageSieve listener from config.managesieve (full-stack mode): the users' script store, the user
// directory's password check, the section's limits.
import type { Config } from '../config/schema.ts';
import { createSieveStore } from '../mailhost/sieve-store.ts';
import type { Registry } from '../metrics/registry.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { createManageSieveServer, type ManageSieveServer } from './server.ts';
import { bindAs } from '../util/bind-error.ts';

export interface ManageSieveDeps {
  config: Config;
  dataDir: string;
  authenticate(user: string, password: string): Promise<string | undefined>;
  tls: { cert: Buffer; key: Buffer } | undefined;
  registry: Registry;
  log: Logger;
  clock: Clock;
}

export async function startManageSieve(deps: ManageSieveDeps): Promise<ManageSieveServer> {
  const m = deps.config.managesieve;
  const server = createManageSieveServer({
    store: createSieveStore(deps.dataDir),
    authenticate: deps.authenticate,
    ...(deps.tls ? { tls: deps.tls } : {}),
    limits: {
      idleTimeoutMs: m.idle_timeout,
      maxConnections: m.max_connections,
      maxConnectionsPerIp: m.max_connections_per_ip,
      maxScripts: m.max_scripts,
      maxScriptSize: m.max_script_size,
      authFailures: { perIp: m.auth_failures.per_ip, perUser: m.auth_failures.per_user },
      ipv6Prefix: deps.config.limits.ipv6_prefix,
    },
    registry: deps.registry,
    log: deps.log,
    clock: deps.clock,
  });
  await bindAs('managesieve.listen', server.listen(m.listen.port, m.listen.host));
  return server;
}
