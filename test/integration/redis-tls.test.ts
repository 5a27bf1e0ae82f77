// redis.tls against real TLS-only redis-server processes: the server verified against our CA (a server
// signed by another CA is refused), a client certificate where the server demands one, TLS through a
// sentinel to the master it names, a TLS cluster, and config errors that name redis.tls.* and the file.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config/load.ts';
import { redisSection } from '../../src/config/sections/redis.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { RedisLink, RedisUnavailableError } from '../../src/redis/connection.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { freePort } from '../helpers/free-port.ts';
import { startRedisProcess, waitFor } from '../helpers/redis-topology.ts';
import type { Cleanup } from '../unit/redis/redis-server.ts';

interface Pki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A server certificate that names only redis.test (no IP address). */
  namedCert: string;
  namedKey: string;
  /** A CA that signed nothing here. */
  otherCa: string;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate it signed, and an unrelated CA. */
function makePki(t: Cleanup): Pki {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-redis-pki-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const f = (name: string): string => path.join(dir, name);
  const ssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca']) ssl(['req', '-x509', ...ec, '-keyout', f(`${ca}.key`), '-out', f(`${ca}.pem`), '-days', '2', '-subj', `/CN=${ca} test`]);
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  writeFileSync(f('named.ext'), 'subjectAltName=DNS:redis.test\n');
  for (const [name, ext] of [['server', ['-extfile', f('server.ext')]], ['named', ['-extfile', f('named.ext')]], ['client', []]] as const) {
    ssl(['req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`]);
    ssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2', ...ext]);
  }
  return { dir, ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key'), namedCert: f('named.pem'), namedKey: f('named.key'), otherCa: f('other-ca.pem') };
}

/** TLS-only server options (no plain port); `authClients` demands a client certificate. */
function tlsServerArgs(pki: Pki, authClients: boolean, cert = { file: pki.serverCert, key: pki.serverKey }): string[] {
  return ['--port', '0', '--tls-cert-file', cert.file, '--tls-key-file', cert.key, '--tls-ca-cert-file', pki.ca, '--tls-auth-clients', authClients ? 'yes' : 'no', '--tls-replication', 'yes'];
}

async function startTlsRedis(t: Cleanup, pki: Pki, authClients = false): Promise<number> {
  const server = await startRedisProcess(t, (port, dir) => ['--tls-port', String(port), ...tlsServerArgs(pki, authClients), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]);
  return server.port;
}

function link(t: Cleanup, over: Record<string, unknown>): RedisLink {
  const config = redisSection.parse({ timeout: '500ms', connect_timeout: '1s', reconnect_max: '200ms', key_prefix: 'tls-test:', ...over });
  const l = new RedisLink({ config, log: silentLogger, registry: createRegistry(false) });
  t.after(() => l.close());
  return l;
}

test('redis.tls: a server signed by our CA works; one we cannot verify is refused', async (t) => {
  const pki = makePki(t);
  const port = await startTlsRedis(t, pki);

  const good = link(t, { host: '127.0.0.1', port, tls: { ca: pki.ca } });
  assert.equal(await good.waitReady(5000), true, 'connects over TLS');
  await good.run('rate', (c) => c.set('tls-test:k', 'v'));
  assert.equal(await good.run('rate', (c) => c.get('tls-test:k')), 'v');

  const wrongCa = link(t, { host: '127.0.0.1', port, tls: { ca: pki.otherCa } });
  assert.equal(await wrongCa.waitReady(1500), false, 'a certificate from an unknown CA is not accepted');
  await assert.rejects(wrongCa.run('rate', (c) => c.get('tls-test:k')), RedisUnavailableError);

  const wrongName = link(t, { host: '127.0.0.1', port, tls: { ca: pki.ca, servername: 'redis.elsewhere.example' } });
  assert.equal(await wrongName.waitReady(1500), false, 'the certificate must name the server');

  const plain = link(t, { host: '127.0.0.1', port });
  assert.equal(await plain.waitReady(1500), false, 'plain text to a TLS-only server gets nowhere');
});

test('redis.tls: a client certificate for a server that demands one', async (t) => {
  const pki = makePki(t);
  const port = await startTlsRedis(t, pki, true);
  const without = link(t, { host: '127.0.0.1', port, tls: { ca: pki.ca } });
  assert.equal(await without.waitReady(1500), false, 'refused without a client certificate');
  const withCert = link(t, { host: '127.0.0.1', port, tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } });
  assert.equal(await withCert.waitReady(5000), true);
  assert.equal(await withCert.run('rate', (c) => c.ping()), 'PONG');
});

test('redis.tls with Sentinel: TLS to the sentinel and to the master it names', async (t) => {
  const pki = makePki(t);
  const masterPort = await startTlsRedis(t, pki);
  const sentinel = await startRedisProcess(
    t,
    (port, dir) => {
      const file = path.join(dir, 'sentinel.conf');
      const conf = [
        'port 0',
        `tls-port ${port}`,
        `tls-cert-file ${pki.serverCert}`,
        `tls-key-file ${pki.serverKey}`,
        `tls-ca-cert-file ${pki.ca}`,
        'tls-auth-clients no',
        // the sentinel talks TLS to the master it monitors
        'tls-replication yes',
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor tlsmaster 127.0.0.1 ${masterPort} 1`,
      ];
      writeFileSync(file, conf.join('\n') + '\n');
      return [file, '--sentinel'];
    },
    /\+monitor master/,
  );
  const viaSentinel = link(t, { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], sentinel_name: 'tlsmaster', tls: { ca: pki.ca } });
  assert.equal(await viaSentinel.waitReady(5000), true, 'master found through the sentinel, both over TLS');
  await viaSentinel.run('rate', (c) => c.set('tls-test:s', '1'));
  assert.equal(await viaSentinel.run('rate', (c) => c.get('tls-test:s')), '1');

  const wrongCa = link(t, { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], sentinel_name: 'tlsmaster', tls: { ca: pki.otherCa } });
  assert.equal(await wrongCa.waitReady(1500), false);
});

test('redis.tls with Cluster: TLS to every node, keys on both masters; nodes named by servername', async (t) => {
  const pki = makePki(t);
  const nodes: { port: number; bus: number }[] = [];
  for (let i = 0; i < 2; i++) {
    let bus = 0;
    const node = await startRedisProcess(t, async (port, dir) => {
      bus = await freePort();
      // certificates that name redis.test only: the nodes are reached by IP, so servername must say it
      return ['--tls-port', String(port), ...tlsServerArgs(pki, false, { file: pki.namedCert, key: pki.namedKey }), '--tls-cluster', 'yes', '--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
    });
    nodes.push({ port: node.port, bus });
  }
  const admins = nodes.map((n) => {
    const admin = new Redis({ host: '127.0.0.1', port: n.port, tls: { ca: readFileSync(pki.ca), servername: 'redis.test' }, maxRetriesPerRequest: 1, retryStrategy: () => null });
    admin.on('error', () => undefined);
    t.after(() => admin.disconnect());
    return admin;
  });
  await admins[0]?.call('CLUSTER', 'ADDSLOTSRANGE', 0, 8191);
  await admins[1]?.call('CLUSTER', 'ADDSLOTSRANGE', 8192, 16383);
  await admins[0]?.call('CLUSTER', 'MEET', '127.0.0.1', nodes[1]?.port ?? 0, nodes[1]?.bus ?? 0);
  await waitFor('cluster_state:ok on both nodes', async () => {
    for (const admin of admins) if (!String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
    return true;
  });
  const unnamed = link(t, { cluster: [{ host: '127.0.0.1', port: nodes[0]?.port ?? 0 }], tls: { ca: pki.ca } });
  assert.equal(await unnamed.waitReady(1500), false, 'a certificate that does not name the address is refused');
  const viaCluster = link(t, { cluster: [{ host: '127.0.0.1', port: nodes[0]?.port ?? 0 }], tls: { ca: pki.ca, servername: 'redis.test' } });
  assert.equal(await viaCluster.waitReady(5000), true);
  // keys spread over both masters' slots
  const keys = Array.from({ length: 20 }, (_, i) => `tls-test:c${i}`);
  for (const k of keys) await viaCluster.run('rate', (c) => c.set(k, k));
  for (const k of keys) assert.equal(await viaCluster.run('rate', (c) => c.get(k)), k);
  const perNode = await Promise.all(admins.map(async (a) => Number(await a.call('DBSIZE'))));
  assert.ok(perNode.every((n) => n > 0), `keys on every master: ${perNode.join(', ')}`);
});

test('redis.tls config errors name the key and the file', (t) => {
  const pki = makePki(t);
  const missing = path.join(pki.dir, 'no-such-ca.pem');
  const load = (tls: unknown): string => {
    try {
      loadConfig({ inline: { redis: { tls } } });
      return '';
    } catch (err) {
      return (err as Error).message;
    }
  };
  assert.match(load({ ca: missing }), /redis\.tls\.ca.*no-such-ca\.pem does not exist/s);
  assert.match(load({ ca: pki.serverKey }), /redis\.tls\.ca.*server\.key holds no PEM certificate/s);
  writeFileSync(path.join(pki.dir, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n');
  assert.match(load({ ca: path.join(pki.dir, 'broken.pem') }), /redis\.tls\.ca.*certificate 1 does not parse/s);
  assert.match(load({ cert: pki.clientCert }), /redis\.tls\.cert and redis\.tls\.key must be given together/);
  assert.match(load({ cert: pki.clientCert, key: pki.serverKey }), /redis\.tls.*certificate and key do not load together/s);
  assert.match(load({ ca: pki.ca, insecure: true }), /redis\.tls.*insecure/s);
  assert.equal(load({ ca: pki.ca, cert: pki.clientCert, key: pki.clientKey, servername: 'redis.example.org' }), '');
  // relative paths are relative to the config file's directory
  const file = path.join(pki.dir, 'spamgate.yaml');
  writeFileSync(file, 'redis:\n  tls:\n    ca: ca.pem\n    cert: client.pem\n    key: client.key\n');
  const tls = loadConfig({ file }).config.redis.tls;
  assert.deepEqual([tls?.ca, tls?.cert, tls?.key], [pki.ca, pki.clientCert, pki.clientKey]);
});
