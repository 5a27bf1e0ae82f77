// Test helper: a real clamd (ClamAV daemon) on a unix socket (and a TCP port on request) in a temp dir, with a
// signature database of its own: an .hdb MD5 signature of TEST_VIRUS (found also as a base64 attachment: clamd
// decodes MIME) and an .ndb body signature of TEST_BODY_MARKER. Ready once it answers PING; stop() and start() take
// it down and up again on the same socket; streamMaxLength lowers clamd's INSTREAM limit. No clamd installed fails the test with the package to install.
// startHungClamd: the one fake, a "clamd" that reads and never answers.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { clamdPing } from '../../src/antivirus/clamd-client.ts';
import { parseClamdAddress, type ClamdAddress } from '../../src/antivirus/clamd-protocol.ts';
import { freePort } from './free-port.ts';

export const CLAMD = '/usr/sbin/clamd';

/** The test "virus": a file whose MD5 and size the .hdb signature names. */
export const TEST_VIRUS = Buffer.from('spamgate antivirus test payload: not a virus, but signed as one in the test database\n'.repeat(4), 'latin1');
/** What clamd calls it (signatures from a local database are UNOFFICIAL). */
export const TEST_VIRUS_NAME = 'Spamgate.Test.Signature.UNOFFICIAL';
/** A string the .ndb body signature finds anywhere in a message. */
export const TEST_BODY_MARKER = 'SPAMGATE-TEST-BODY-SIGNATURE-7f3a9c';
export const TEST_BODY_NAME = 'Spamgate.Test.Body.UNOFFICIAL';

/** How long clamd may take to load its (tiny) database and answer PING. */
const READY_DEADLINE_MS = 60_000;

export interface Cleanup {
  after(fn: () => unknown): void;
}

export interface TestClamd {
  /** "unix:/tmp/…/clamd.sock", for antivirus.clamd. */
  unix: string;
  /** "127.0.0.1:PORT" when started with tcp: true. */
  tcp?: string;
  /** SIGTERM and wait for the exit: the socket is gone. */
  stop(): Promise<void>;
  /** Starts it again with the same config, resolved once it answers PING. */
  start(): Promise<void>;
}

export async function startClamd(t: Cleanup, opts: { tcp?: boolean; streamMaxLength?: string } = {}): Promise<TestClamd> {
  if (!existsSync(CLAMD)) throw new Error(`${CLAMD} not found: install the clamav-daemon package (apt-get install -y --no-install-recommends clamav-daemon; .ci/run does)`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-clamd-'));
  const db = path.join(dir, 'db');
  mkdirSync(db);
  const md5 = createHash('md5').update(TEST_VIRUS).digest('hex');
  writeFileSync(path.join(db, 'spamgate-test.hdb'), `${md5}:${TEST_VIRUS.length}:Spamgate.Test.Signature\n`);
  writeFileSync(path.join(db, 'spamgate-test.ndb'), `Spamgate.Test.Body:0:*:${Buffer.from(TEST_BODY_MARKER, 'latin1').toString('hex')}\n`);
  const socket = path.join(dir, 'clamd.sock');
  const port = opts.tcp ? await freePort() : undefined;
  const conf = path.join(dir, 'clamd.conf');
  writeFileSync(
    conf,
    [
      `LocalSocket ${socket}`,
      ...(port !== undefined ? [`TCPSocket ${port}`, 'TCPAddr 127.0.0.1'] : []),
      `DatabaseDirectory ${db}`,
      'Foreground yes',
      ...(opts.streamMaxLength !== undefined ? [`StreamMaxLength ${opts.streamMaxLength}`] : []),
      `LogFile ${path.join(dir, 'clamd.log')}`,
      `PidFile ${path.join(dir, 'clamd.pid')}`,
      '',
    ].join('\n'),
  );
  const address = parseClamdAddress(`unix:${socket}`) as ClamdAddress;
  let child: ChildProcess | undefined;
  let output = '';

  const start = async (): Promise<void> => {
    output = '';
    const proc = spawn(CLAMD, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    proc.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + READY_DEADLINE_MS;
    for (;;) {
      const early = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 100))]);
      if (early !== 'running') throw new Error(`clamd exited (${String(early)}) before answering PING: ${output}`);
      if ((await clamdPing(address, AbortSignal.timeout(1000))).ok) return;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`clamd did not answer PING within ${READY_DEADLINE_MS} ms: ${output}`);
      }
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
    // clamd removes its socket on a clean exit; one left by SIGKILL must not look like a listening clamd
    rmSync(socket, { force: true });
  };

  t.after(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await start();
  return { unix: `unix:${socket}`, ...(port !== undefined ? { tcp: `127.0.0.1:${port}` } : {}), stop, start };
}

/** A hung "clamd" (the one fake: the real one cannot be made to hang): reads, never answers. */
export interface HungClamd {
  /** "127.0.0.1:PORT", for antivirus.clamd. */
  address: string;
  /** INSTREAM connections open now, and the most seen at once (a PING probe's are not counted); reset `most` at will. */
  scans: { open: number; most: number };
  /** Resolves once a scan holds a connection. */
  scanning(): Promise<void>;
  /** `scans.most` once every sample is taken (see COUNT_SETTLE_MS). */
  mostAtOnce(): Promise<number>;
}

/**
 * The open INSTREAM connections are counted this long after each one arrives, not at once: a client that closes one
 * connection and opens the next has closed the first before it connects, but this side may read the second's first
 * bytes before it reads the first's end (both are queued; the order they are read in is not theirs). A client that
 * really holds two at once holds the first for its scan timeout (a second or more), far past this.
 */
const COUNT_SETTLE_MS = 100;

export async function startHungClamd(t: Cleanup): Promise<HungClamd> {
  const sockets = new Set<net.Socket>();
  const scans = { open: 0, most: 0 };
  const samples = new Set<Promise<void>>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('data', (first: Buffer) => {
      if (!first.toString('latin1').startsWith('zINSTREAM')) return;
      scans.open++;
      s.once('close', () => scans.open--);
      const sample = new Promise<void>((r) => setTimeout(r, COUNT_SETTLE_MS)).then(() => {
        scans.most = Math.max(scans.most, scans.open);
        samples.delete(sample);
      });
      samples.add(sample);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const scanning = (): Promise<void> =>
    new Promise<void>((r) => {
      const wait = (): void => void (scans.open > 0 ? r() : setTimeout(wait, 10));
      wait();
    });
  const mostAtOnce = async (): Promise<number> => {
    while (samples.size > 0) await Promise.all([...samples]);
    return scans.most;
  };
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, scans, scanning, mostAtOnce };
}
