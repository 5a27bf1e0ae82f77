// A start that fails part-way (a port in use) names the config key, the address and the reason, and leaves no
// listener open: those it had opened are closed before the error goes on (in process and through `spamgate serve`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { stringify as stringifyYaml } from 'yaml';
import { startGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/free-port.ts';
import { runCli } from '../helpers/cli-process.ts';
import { App } from '../../src/app.ts';
import { loadConfig, SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { LEARN_LOCK_FILE } from '../../src/bayes/learn-lock.ts';
import { silentLogger } from '../../src/util/logger.ts';

/** A listener holding a loopback port, as another process would. */
async function occupied(t: { after(fn: () => unknown): void }): Promise<number> {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

/** True when a new listener can take the port: nothing of the failed start holds it. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

async function tempDir(t: { after(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-startfail-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));
  return dir;
}

for (const busy of ['imap', 'http'] as const) {
  test(`${busy}.listen on a port in use: the start fails naming the key, and the listeners it had opened are closed`, async (t) => {
    const taken = await occupied(t);
    const ports = { smtp: await freePort(), submission: await freePort(), pop3: await freePort(), imap: await freePort(), http: await freePort() };
    ports[busy] = taken;
    const listen = (port: number) => ({ listen: { host: '127.0.0.1', port } });
    const config = { smtp: listen(ports.smtp), submission: listen(ports.submission), pop3: listen(ports.pop3), imap: listen(ports.imap), http: listen(ports.http) };
    const dataDir = await tempDir(t);
    await assert.rejects(startGateway(t, config, { dataDir }), (err: Error) => {
      assert.match(err.message, new RegExp(`^${busy}\\.listen: cannot listen on 127\\.0\\.0\\.1:${taken}: the address is in use .*\\(EADDRINUSE\\)$`));
      return true;
    });
    const opened = (['smtp', 'submission', 'pop3', 'imap', 'http'] as const).filter((k) => k !== busy && (busy === 'http' || k !== 'http'));
    for (const k of opened) assert.equal(await bindable(ports[k]), true, `${k} port ${ports[k]} released after the failed start`);
  });
}

test('spamgate serve with smtp.listen on a port in use exits 1 with one line naming the key, address and reason', async (t) => {
  const taken = await occupied(t);
  const dir = await tempDir(t);
  const configFile = path.join(dir, 'spamgate.yaml');
  const config = {
    data_dir: path.join(dir, 'data'),
    smtp: { listen: { host: '127.0.0.1', port: taken } },
    submission: { enabled: false },
    pop3: { enabled: false },
    imap: { enabled: false },
    managesieve: { enabled: false },
    http: { enabled: false },
    dns: { servers: ['127.0.0.1:9'], timeout: '200ms', retries: 0 },
  };
  await writeFile(configFile, stringifyYaml(config));
  const r = await runCli(['serve', '--config', configFile], { timeoutMs: 60_000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^spamgate serve: smtp\\.listen: cannot listen on 127\\.0\\.0\\.1:${taken}: the address is in use`, 'm'));
});

test('rules that do not load at App.create: what it had opened is let go (the Bayes learn lock among them)', async (t) => {
  const dir = await tempDir(t);
  const rules = path.join(dir, 'rules');
  await mkdir(rules);
  await writeFile(path.join(rules, 'bad.yaml'), "content_rules:\n  - { symbol: CT_BAD, description: broken, weight: 1, type: body, regex: '(unclosed' }\n");
  const dataDir = path.join(dir, 'data');
  const loaded = loadConfig({ inline: { rules_dirs: [SHIPPED_RULES_DIR, rules], dns: { servers: ['127.0.0.1:9'], timeout: '200ms', retries: 0 } }, dataDir });
  await assert.rejects(App.create({ loaded, log: silentLogger }), /bad\.yaml:\d+: content_rules\[0\]\.regex: invalid regular expression/);
  assert.equal(existsSync(path.join(dataDir, LEARN_LOCK_FILE)), false, 'the learn lock is released');
  // and a fixed start on the same data directory goes ahead at once (no wait for a lock this process still held)
  const fixed = loadConfig({ inline: { dns: { servers: ['127.0.0.1:9'], timeout: '200ms', retries: 0 } }, dataDir });
  const app = await App.create({ loaded: fixed, log: silentLogger });
  await app.stop(500);
});
