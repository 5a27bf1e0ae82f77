// Mail acknowledged with 250 is never lost when spamgate is SIGKILLed at arbitrary points: clients
// keep sending while the process is killed and restarted a few times; afterwards every message that
// got 250 has reached the upstream (front-of, queued or inline) or the Maildir (full-stack) at least
// once, without a further restart. Duplicates are allowed and reported.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { hashPassword } from '../../src/mailhost/password.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { freePort } from '../helpers/free-port.ts';
import { ServeProcess } from '../helpers/serve-process.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/spamgate.mjs');
/** Kill points, ms after each start: mid-session, mid-delivery, mid-retry, whatever they meet. */
const KILL_AFTER_MS = [350, 650];
const WORKERS = 6;
const MAX_MESSAGES = 150;
/** Acknowledged messages a run needs to mean anything. */
const MIN_ACKED = 20;


class Instance {
  private readonly proc = new ServeProcess();
  constructor(private readonly configFile: string) {}

  start(): Promise<void> {
    return this.proc.start(process.execPath, [CLI, 'serve', '--config', this.configFile]);
  }

  kill(): Promise<void> {
    return this.proc.kill();
  }
}

interface Setup {
  config: string;
  rcpt: string;
  /** Subjects of what arrived, one entry per copy. */
  arrived(): string[];
  sink?: SinkServer;
}

async function frontOf(t: TestContext, common: string, delivery: 'queue' | 'inline'): Promise<Setup> {
  const sink = await startSink();
  t.after(() => sink.close());
  const config = `mode: front-of\nlocal_domains: [relay.example]\ndelivery: { mode: ${delivery}, upstream: { host: 127.0.0.1, port: ${sink.port} } }\n${common}`;
  const subjects = (): string[] => sink.messages.map((m) => /^Subject: (crash-\d+)/m.exec(m.raw.toString('latin1'))?.[1] ?? '?');
  return { config, rcpt: 'user@relay.example', arrived: subjects, sink };
}

async function fullStack(dataDir: string, common: string): Promise<Setup> {
  const hash = await hashPassword('a-long-password', { N: 1024, r: 8, p: 1 });
  const config = `mode: full-stack\nlocal_domains: [localhost]\nusers: { "u@localhost": { password: "${hash}" } }\n${common}`;
  const maildir = path.join(dataDir, 'mail', 'localhost', 'u', 'Maildir');
  const arrived = (): string[] =>
    ['new', 'cur']
      .map((sub) => path.join(maildir, sub))
      .filter((d) => existsSync(d))
      .flatMap((d) => readdirSync(d).map((f) => /^Subject: (crash-\d+)/m.exec(readFileSync(path.join(d, f), 'latin1'))?.[1] ?? '?'));
  return { config, rcpt: 'u@localhost', arrived };
}

async function crashRun(t: TestContext, mode: 'front-of' | 'inline' | 'full-stack'): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-crash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = path.join(dir, 'data');
  const smtpPort = await freePort();
  const common = `data_dir: ${dataDir}
smtp: { listen: { port: ${smtpPort} }, hostname: mx.test.example }
submission: { enabled: false }
http: { listen: { port: ${await freePort()} } }
pop3: { enabled: false }
imap: { enabled: false }
log_level: error
dns: { servers: ["127.0.0.1:9"], timeout: 100ms, retries: 0 }
queue: { retry_initial: 200ms, retry_max: 400ms, scan_interval: 100ms }
`;
  const setup = mode === 'full-stack' ? await fullStack(dataDir, common) : await frontOf(t, common, mode === 'inline' ? 'inline' : 'queue');
  const configFile = path.join(dir, 'spamgate.yaml');
  writeFileSync(configFile, setup.config);
  const instance = new Instance(configFile);
  t.after(() => instance.kill());

  const acked = new Set<string>();
  let next = 0;
  let stop = false;
  const worker = async (): Promise<void> => {
    for (let i = next++, tries = 0; i < MAX_MESSAGES && !stop && tries < 2000; tries++) {
      const subject = `crash-${i}`;
      const msg = `From: a@remote.example\r\nTo: ${setup.rcpt}\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@crash.test>\r\n\r\nbody of ${subject}\r\n`;
      const r = await sendMessage(smtpPort, 'a@remote.example', [setup.rcpt], msg).catch((err: NodeJS.ErrnoException) => err);
      if (r instanceof Error && r.code === 'ECONNREFUSED') {
        // Down between a kill and the restart: nothing was sent, so the same message goes again.
        await new Promise((res) => setTimeout(res, 10));
        continue;
      }
      // A session the kill cut short is simply not acknowledged (its message may still arrive).
      if (!(r instanceof Error) && r.data?.code === 250) acked.add(subject);
      i = next++;
    }
  };

  await instance.start();
  const workers = Promise.all(Array.from({ length: WORKERS }, () => worker()));
  // Front-of: the upstream defers now and then, so retries rewrite state files the kills may meet; inline,
  // the deferrals must reach the client instead of a 250.
  // (Inline, deferrals are not retried by spamgate, so they come rarer lest they starve the clients.)
  const flap = setInterval(() => setup.sink?.rule({ stage: 'data', code: 451, text: '4.3.0 not now', times: mode === 'inline' ? 1 : 2 }), mode === 'inline' ? 1000 : 200);
  t.after(() => clearInterval(flap));
  for (const ms of KILL_AFTER_MS) {
    await new Promise((r) => setTimeout(r, ms));
    await instance.kill();
    await instance.start();
  }
  // The last instance took traffic from its first moment (clients reconnect at once) and must drain
  // everything by itself: nothing may wait for yet another restart. It takes traffic until enough messages were
  // acknowledged to mean something (a slow machine acknowledges fewer in a fixed time), within 20 s.
  const enoughBy = Date.now() + 20_000;
  await new Promise((r) => setTimeout(r, 400));
  while (acked.size < MIN_ACKED && next < MAX_MESSAGES && Date.now() < enoughBy) await new Promise((r) => setTimeout(r, 50));
  stop = true;
  await workers;
  clearInterval(flap);
  setup.sink?.clearRules();

  const missing = (): string[] => {
    const got = new Set(setup.arrived());
    return [...acked].filter((s) => !got.has(s));
  };
  const deadline = Date.now() + 10_000;
  while (missing().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const arrived = setup.arrived();
  const copies = new Map<string, number>();
  for (const s of arrived) copies.set(s, (copies.get(s) ?? 0) + 1);
  const duplicated = [...copies.values()].filter((n) => n > 1).length;
  t.diagnostic(`${mode}: sent ${Math.min(next, MAX_MESSAGES)}, acknowledged ${acked.size}, arrived ${copies.size} distinct (${arrived.length} copies), duplicated ${duplicated}, kills ${KILL_AFTER_MS.length}`);
  assert.ok(acked.size >= MIN_ACKED, `too few messages acknowledged to mean anything: ${acked.size}`);
  assert.deepEqual(missing(), [], 'every acknowledged message arrived');
  assert.ok(!arrived.includes('?'), 'every copy arrived whole');
}

test('front-of: SIGKILL at arbitrary points loses no acknowledged message', async (t) => {
  await crashRun(t, 'front-of');
});

test('inline: SIGKILL at arbitrary points loses no acknowledged message (the 250 is the upstream\'s)', async (t) => {
  await crashRun(t, 'inline');
});

test('full-stack: SIGKILL at arbitrary points loses no acknowledged message (Maildir)', async (t) => {
  await crashRun(t, 'full-stack');
});
