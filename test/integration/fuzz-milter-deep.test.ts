// Deterministic stateful milter fuzz: a fixed seed's walks over the protocol's commands in any order (BODY before
// headers, MAIL before CONNECT, OPTNEG again with odd versions and flags, macros up to the packet limit, aborts mid
// message, many messages and QUIT_NC clients per connection), written whole, byte by byte or in pieces, some ending
// in a lying length or a cut. Each command wanting an answer gets one well-formed final reply, the connection is
// closed only where the protocol calls for it, no handler error is logged and the listener still negotiates.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeMilterRun, milterDeepFuzz } from '../helpers/fuzz-milter-deep.ts';
import { Rng, seedFrom } from '../helpers/fuzz-mutate.ts';
import { startMilterGateway } from '../helpers/milter-gateway.ts';

test('milter: stateful walks in any order and split never crash, hang or go unanswered', { timeout: 120_000 }, async (t) => {
  const gw = await startMilterGateway(t);
  // fixed seeds (FUZZ_SEED runs one other); the time bound only stops early, it is not asserted
  for (const seed of process.env.FUZZ_SEED ? [seedFrom(process.env, 1)] : [1, 2]) {
    const run = await milterDeepFuzz(new Rng(seed), { port: gw.milterPort, seed, walks: 250, maxSteps: 60, budgetMs: 40_000, replyMs: 10_000 });
    const errors = gw.logs.filter((l) => l.level === 'error' || /unexpected error/.test(String(l.msg)));
    assert.deepEqual(run.findings, [], describeMilterRun(run));
    assert.deepEqual(errors, [], `${describeMilterRun(run)}\nerrors logged: ${JSON.stringify(errors).slice(0, 3000)}`);
    console.log(describeMilterRun(run));
  }
});
