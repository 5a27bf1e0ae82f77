// The virus scanner against sockets of the test's own (no clamd): its own timeout holds in optimised code after a
// garbage collection; replies split across packets, with spaces and colons in the name, too long or missing.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createAntivirusMetrics } from '../../../src/antivirus/metrics.ts';
import { VirusScanner } from '../../../src/antivirus/scanner.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';

setFlagsFromString('--expose-gc');
setFlagsFromString('--allow-natives-syntax');
const gc = runInNewContext('gc') as () => void;
// what V8 does to a function called thousands of times (a busy gateway's scan), on demand
const prepareForOptimization = new Function('f', '%PrepareFunctionForOptimization(f)') as (f: unknown) => void;
const optimizeOnNextCall = new Function('f', '%OptimizeFunctionOnNextCall(f)') as (f: unknown) => void;

/** A TCP "clamd": onConnection gets each socket. */
async function fakeClamd(t: TestContext, onConnection: (s: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

const scannerAt = (port: number, timeoutMs: number): VirusScanner =>
  new VirusScanner({ address: { kind: 'tcp', host: '127.0.0.1', port }, timeoutMs, maxSize: 1024 * 1024, maxConcurrent: 4 }, createAntivirusMetrics(createRegistry(false)));

const MESSAGE = Buffer.from('Subject: hi\r\n\r\nbody\r\n');

test('antivirus.timeout holds in optimised code after a garbage collection (a hung clamd is an error in time)', async (t) => {
  const okPort = await fakeClamd(t, (s) => s.once('data', () => s.end('stream: OK\0')));
  const hungPort = await fakeClamd(t, (s) => s.resume());
  const fine = scannerAt(okPort, 1000);
  const hung = scannerAt(hungPort, 300);
  // the check's budget: alive, and not aborted before the end of the test
  const budget = new AbortController();
  t.after(() => budget.abort());
  prepareForOptimization(VirusScanner.prototype.scan);
  for (let i = 0; i < 3; i++) assert.deepEqual(await fine.scan(MESSAGE, budget.signal), { result: 'clean' });
  optimizeOnNextCall(VirusScanner.prototype.scan);
  const started = Date.now();
  const scans = [1, 2, 3].map(() => hung.scan(MESSAGE, budget.signal));
  const collect = setInterval(gc, 20);
  t.after(() => clearInterval(collect));
  const outcomes = await Promise.race([Promise.all(scans), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 6000))]);
  clearInterval(collect);
  assert.notEqual(outcomes, 'hung', 'every scan ended by its own timeout');
  assert.ok(outcomes !== 'hung' && outcomes.every((o) => o.result === 'error' && /timed out while reading/.test(o.reason)), JSON.stringify(outcomes));
  // 10 × the 300 ms timeout: room for a loaded machine, far from a hang
  assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
});

test('clamd replies read whole: split across packets, names with spaces and colons, cut at MAX_REPLY, closed without one', async (t) => {
  /** Answers once the INSTREAM's zero-length chunk came, by the given writes (a pause between each). */
  const answering = (parts: string[], end = true) =>
    fakeClamd(t, (s) => {
      let seen = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        seen = Buffer.concat([seen, d]);
        if (!seen.subarray(-4).equals(Buffer.alloc(4))) return;
        void (async () => {
          for (const part of parts) {
            s.write(part);
            await new Promise((r) => setTimeout(r, 30));
          }
          if (end) s.end();
        })();
      });
    });
  const scan = async (parts: string[], end = true) => scannerAt(await answering(parts, end), 2000).scan(MESSAGE);
  assert.deepEqual(await scan(['stream: Win.Te', 'st.Split-1 FO', 'UND', '\0']), { result: 'virus', name: 'Win.Test.Split-1' });
  assert.deepEqual(await scan(['stream: Doc.Macro:Agent Variant 7 FOUND\0']), { result: 'virus', name: 'Doc.Macro:Agent Variant 7' });
  assert.deepEqual(await scan(['stream: ', 'OK\0']), { result: 'clean' });
  assert.deepEqual(await scan(["stream: Can't allocate memory ERROR\0"]), { result: 'error', reason: "Can't allocate memory" });
  // an OK cut short is no OK
  assert.equal((await scan(['stream: O'])).result, 'error');
  assert.equal((await scan([])).result, 'error');
  const long = await scan(['x'.repeat(3000), 'y'.repeat(3000)], false);
  assert.deepEqual(long, { result: 'error', reason: 'reply longer than 4096 bytes' });
});
