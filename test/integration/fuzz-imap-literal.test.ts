// Deterministic IMAP literal fuzz: a fixed seed's few hundred cases of synchronising, LITERAL+ and literal8
// literals (honest, lying, zero, negative, over imap.max_literal, past 32 bits, cut off) in APPEND, MULTIAPPEND,
// SEARCH, LOGIN and AUTHENTICATE, written in pieces down to single bytes, with COMPRESS=DEFLATE on and off. Each
// gets its tagged reply, a literal over the limit is refused before its bytes, the session still answers, nothing
// is logged as an internal error and the server takes a fresh login at the end.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capturingLogger } from '../helpers/capture-logs.ts';
import { describeLiteralRun, literalFuzz } from '../helpers/fuzz-imap-literal.ts';
import { Rng, seedFrom } from '../helpers/fuzz-mutate.ts';
import { startImap } from './imap-harness.ts';

const MAX_LITERAL = 4096;
/** The bound before login (src/imap/session.ts PREAUTH_LITERAL_BYTES), here above max_literal so the smaller is used. */
const PREAUTH = MAX_LITERAL;

test('IMAP literals of every form, size and split: a tagged reply each, refused before their bytes when over the limit, the session goes on', { timeout: 120_000 }, async (t) => {
  const { log, logs } = capturingLogger('warn');
  const h = await startImap(t, {
    log,
    limits: { maxLiteralBytes: MAX_LITERAL, maxLineBytes: 2048, commandsPerSecond: 100_000, maxAuthFailures: 1_000_000, maxAuthFailuresPerUser: 1_000_000, maxConnectionsPerIp: 1000 },
  });
  await h.store.ensureUser('alice@example.org');
  const seed = seedFrom(process.env, 20261207);
  const run = await literalFuzz(new Rng(seed), { port: h.port, seed, cases: 300, budgetMs: 60_000, max: MAX_LITERAL, preauthMax: PREAUTH, replyMs: 10_000, waitMs: 200 });
  const errors = logs.filter((l) => l.level === 'error');
  assert.deepEqual(run.findings, [], describeLiteralRun(run));
  assert.deepEqual(errors, [], `${describeLiteralRun(run)}\nerrors logged: ${JSON.stringify(errors).slice(0, 2000)}`);
  console.log(describeLiteralRun(run));
});
