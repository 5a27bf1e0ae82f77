// The check runner: concurrency within a phase, time budgets, throws, and who is skipped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runChecks } from '../../../src/checks/runner.ts';
import type { Check, CheckContext, SymbolHit } from '../../../src/checks/types.ts';
import type { CheckName } from '../../../src/checks/names.ts';
import { silentLogger } from '../../../src/util/logger.ts';

function base(phase: CheckContext['phase'] = 'mail'): Omit<CheckContext, 'signal' | 'log'> & { log: typeof silentLogger } {
  return {
    phase,
    session: { id: 's', clientIp: '192.0.2.1', clientPort: 1, secure: false, trusted: false, submission: false, localIp: '127.0.0.1', localPort: 25 },
    envelope: { mailFrom: 'a@b.example', rcptTo: [], smtputf8: false, body8bit: false },
    now: 0,
    log: silentLogger,
    addHeader: () => undefined,
    results: new Map(),
    hitsSoFar: [],
  };
}

// The runner does not care which check it runs: stand-ins named a, b, c.
const check = (name: string, run: Check['run'], extra: Partial<Check> = {}): Check => ({ name: name as CheckName, phase: 'mail', symbols: [], run, ...extra });

test('checks of the phase run concurrently; other phases are left out', async () => {
  // Each check waits until both have started: run one after the other, the first would time out.
  const started: string[] = [];
  let bothStarted: () => void = () => undefined;
  const barrier = new Promise<void>((r) => (bothStarted = r));
  const meeting = (name: string): Check =>
    check(name, async () => {
      started.push(name);
      if (started.length === 2) bothStarted();
      await barrier;
      return [{ symbol: name.toUpperCase() }];
    });
  const hits = await runChecks([meeting('a'), meeting('b'), check('c', () => [{ symbol: 'C' }], { phase: 'rcpt' })], base(), { defaultTimeoutMs: 1000, trustedClient: false });
  assert.deepEqual(hits.map((h) => h.symbol).sort(), ['A', 'B'], 'both ran at once, and c (another phase) not at all');
});

test('a throw becomes CHECK_ERROR and a hang CHECK_TIMEOUT; the others still count', async () => {
  const timings: string[] = [];
  const hits = await runChecks(
    [
      check('boom', () => {
        throw new Error('kaput');
      }),
      check('hang', () => new Promise<SymbolHit[]>(() => undefined), { timeoutMs: 30 }),
      check('fine', () => [{ symbol: 'FINE' }]),
    ],
    base(),
    { defaultTimeoutMs: 1000, trustedClient: false, onTiming: (t) => timings.push(`${t.check}:${t.outcome}`) },
  );
  assert.deepEqual(hits, [{ symbol: 'CHECK_ERROR', options: ['boom'] }, { symbol: 'CHECK_TIMEOUT', options: ['hang'] }, { symbol: 'FINE' }]);
  assert.deepEqual(timings.sort(), ['boom:error', 'fine:ok', 'hang:timeout']);
});

test('a check that answers the abort with its own symbol wins over CHECK_TIMEOUT', async () => {
  const aware = check(
    'aware',
    (ctx) =>
      new Promise<SymbolHit[]>((resolve) => {
        ctx.signal.addEventListener('abort', () => setImmediate(() => resolve([{ symbol: 'X_TEMPERROR' }])));
      }),
    { timeoutMs: 20 },
  );
  assert.deepEqual(await runChecks([aware], base(), { defaultTimeoutMs: 1000, trustedClient: false }), [{ symbol: 'X_TEMPERROR' }]);
});

test('trusted clients skip filtering checks, except those that opt out; authenticated mail gets outbound checks', async () => {
  const checks = [
    check('filter', () => [{ symbol: 'FILTER' }]),
    check('policy', () => [{ symbol: 'POLICY' }], { skipTrusted: false }),
    check('content', () => [{ symbol: 'CONTENT' }], { outbound: true }),
  ];
  const symbols = async (opts: { trustedClient: boolean; authenticated?: boolean }): Promise<string[]> =>
    (await runChecks(checks, base(), { defaultTimeoutMs: 100, ...opts })).map((h) => h.symbol).sort();
  assert.deepEqual(await symbols({ trustedClient: false }), ['CONTENT', 'FILTER', 'POLICY']);
  assert.deepEqual(await symbols({ trustedClient: true }), ['POLICY']);
  assert.deepEqual(await symbols({ trustedClient: true, authenticated: true }), ['CONTENT', 'POLICY']);
});
