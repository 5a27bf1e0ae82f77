// Test harness: a real spamgate App on 127.0.0.1 with every port 0, a temp data dir and captured logs.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { stringify as stringifyYaml } from 'yaml';
import { App } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Clock } from '../../src/util/clock.ts';
import { hashPassword } from '../../src/mailhost/password.ts';
import { startDnsServer, type TestDnsServer, type Zones } from './dns-server.ts';
import { capturingLogger } from './capture-logs.ts';

export interface RunningGateway {
  app: App;
  smtpPort: number;
  submissionPort?: number;
  /** The implicit-TLS submission listener, when submission.tls_listen is set. */
  submissionsPort?: number;
  httpPort?: number;
  pop3Port?: number;
  imapPort?: number;
  managesievePort?: number;
  /** The milter listener, when milter.enabled (listen on 127.0.0.1:0). */
  milterPort?: number;
  /** The spamd listener, when spamd.enabled (listen on 127.0.0.1:0). */
  spamdPort?: number;
  /** The rspamd HTTP scan listener, when spamd.http_listen is set (127.0.0.1:0). */
  scanHttpPort?: number;
  dataDir: string;
  /** The loopback DNS server the gateway resolves with (its query log shows what was looked up). */
  dns: TestDnsServer;
  /** Every JSON log line so far. */
  logs: Array<Record<string, unknown>>;
  /** Log lines with msg === 'transaction'. */
  transactions(): Array<Record<string, unknown>>;
}

type Json = Record<string, unknown>;

/** Deep-merges test config over the harness defaults (all listeners on port 0). */
function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) ? merge(b as Json, v as Json) : v;
  }
  return out;
}

/** The password of the harness's default user postmaster@localhost. */
export const TEST_PASSWORD = 'test-password';
let cachedHash: Promise<string> | undefined;
async function testPasswordHash(): Promise<string> {
  cachedHash ??= hashPassword(TEST_PASSWORD, { N: 1024, r: 8, p: 1 });
  return cachedHash;
}

export interface GatewayTestOptions {
  clock?: Clock;
  dataDir?: string;
  /** Write the config to this file and load it from there (reload() then reads the file again). */
  configFile?: string;
  /** Zones for the loopback DNS server every gateway under test resolves with (default: empty). */
  zones?: Zones;
}

export async function startGateway(t: TestContext, config: Json = {}, opts: GatewayTestOptions = {}): Promise<RunningGateway> {
  const dns = await startDnsServer(opts.zones ?? {});
  t.after(() => dns.close());
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'spamgate-test-')));
  const base: Json = {
    smtp: { listen: { host: '127.0.0.1', port: 0 }, hostname: 'mx.test.example' },
    submission: { listen: { host: '127.0.0.1', port: 0 } },
    http: { listen: { host: '127.0.0.1', port: 0 } },
    pop3: { listen: { host: '127.0.0.1', port: 0 } },
    imap: { listen: { host: '127.0.0.1', port: 0 } },
    ...(config.local_domains === undefined || (config.local_domains as string[]).includes('localhost') ? { users: { 'postmaster@localhost': { password: await testPasswordHash() } } } : {}),
    dns: { servers: [dns.server], timeout: '500ms', retries: 0 },
    log_level: 'info',
  };
  let loaded;
  if (opts.configFile !== undefined) {
    // from a file, so that a test can edit it and reload
    await writeFile(opts.configFile, stringifyYaml(merge(base, config)));
    loaded = loadConfig({ file: opts.configFile, dataDir });
  } else loaded = loadConfig({ inline: merge(base, config), dataDir });
  const { log, logs } = capturingLogger(loaded.config.log_level);
  const app = await App.create({ loaded, log, ...(opts.clock ? { clock: opts.clock } : {}) });
  const listening = await app.start();
  t.after(async () => {
    await app.stop(500);
    // a delivery still finishing after the stop deadline may add a file while the tree is removed (ENOTEMPTY): retried
    if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });
  const port = (a?: AddressInfo): number | undefined => a?.port;
  const running: RunningGateway = {
    app,
    smtpPort: listening.smtp.port,
    dataDir,
    dns,
    logs,
    transactions: () => logs.filter((l) => l.msg === 'transaction'),
  };
  const optional = { submissionPort: port(listening.submission), submissionsPort: port(listening.submissions), httpPort: port(listening.http), pop3Port: port(listening.pop3), imapPort: port(listening.imap), managesievePort: port(listening.managesieve), milterPort: port(listening.milter), spamdPort: port(listening.spamd), scanHttpPort: port(listening.scanHttp) };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (running as unknown as Json)[k] = v;
  return running;
}
