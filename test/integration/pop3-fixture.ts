// Test fixture for the POP3 integration tests: a temp Maildir store, a user directory and a server on 127.0.0.1:0.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { createUserDirectory, type UserDirectory } from '../../src/mailhost/directory.ts';
import { hashPassword } from '../../src/mailhost/password.ts';
import { createRegistry, type Registry } from '../../src/metrics/registry.ts';
import { createPop3Server, type Pop3Limits, type Pop3Server } from '../../src/pop3/server.ts';
import { createMaildirStore, type MaildirStore } from '../../src/store/maildir-store.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';

/** Cheap scrypt parameters: the tests check the protocol, not the cost. */
export const TEST_SCRYPT = { N: 1024, r: 8, p: 1 };

export interface Pop3Fixture {
  dir: string;
  store: MaildirStore;
  users: UserDirectory;
  server: Pop3Server;
  port: number;
  registry: Registry;
  clock: ManualClock;
  logins: Array<{ user: string; ip: string }>;
  deliver(user: string, raw: string | Buffer): Promise<number>;
}

export interface FixtureOptions {
  users?: Record<string, { password: string; apop?: boolean }>;
  limits?: Partial<Pop3Limits>;
  tls?: { cert: string; key: string };
}

export async function startPop3(t: TestContext, opts: FixtureOptions = {}): Promise<Pop3Fixture> {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-pop3-'));
  const userSpec = opts.users ?? { 'alice@example.com': { password: 'secret-alice' }, 'bob@example.com': { password: 'secret-bob', apop: true } };
  const users: Record<string, { password: string; apop_secret?: string }> = {};
  for (const [name, u] of Object.entries(userSpec)) {
    users[name] = { password: await hashPassword(u.password, TEST_SCRYPT), ...(u.apop ? { apop_secret: u.password } : {}) };
  }
  const { config } = loadConfig({ inline: { local_domains: ['example.com'], users, mailhost: { watch_files: false } }, dataDir: dir });
  const directory = createUserDirectory({ config, dataDir: dir, log: silentLogger });
  const store = createMaildirStore({ root: path.join(dir, 'mail'), fsync: false });
  const registry = createRegistry(false);
  const clock = new ManualClock(1_700_000_000_000);
  const logins: Array<{ user: string; ip: string }> = [];
  const server = createPop3Server({
    store,
    users: directory,
    hostname: 'pop.example.com',
    limits: opts.limits ?? {},
    registry,
    log: silentLogger,
    clock,
    onLogin: (user, ip) => logins.push({ user, ip }),
    ...(opts.tls ? { tls: opts.tls } : {}),
  });
  await server.listen(0, '127.0.0.1');
  t.after(async () => {
    await server.close();
    directory.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const port = server.address()?.port ?? 0;
  const deliver = async (user: string, raw: string | Buffer): Promise<number> => {
    await store.ensureUser(user);
    return (await store.append(user, 'INBOX', Buffer.isBuffer(raw) ? raw : Buffer.from(raw))).uid;
  };
  return { dir, store, users: directory, server, port, registry, clock, logins, deliver };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion (stdin optional); the tests' only way to drive the real clients. */
export function run(cmd: string, args: readonly string[], input?: string, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Runs a python3 script (poplib etc.) that prints one JSON value; returns it parsed. */
export async function python<T>(script: string, args: readonly string[] = []): Promise<T> {
  const r = await run('python3', ['-c', script, ...args]);
  if (r.code !== 0) throw new Error(`python3 failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export function message(subject: string, body: string): string {
  return `From: sender@example.org\r\nTo: alice@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.org>\r\n\r\n${body}`;
}
