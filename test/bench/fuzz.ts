// Opt-in protocol fuzz run (`BENCH=fuzz npm run bench`): spamgate's IMAP, POP3, ManageSieve, SMTP gateway and
// submission servers, the milter listener (mutated packet sequences), the spamd listener and the rspamd HTTP
// listener take seeded mutated input, each followed by a probe; prints every finding (uncaught exception, hang,
// silent close, malformed reply) with the input that caused it. FUZZ_SEED, FUZZ_COUNT (per server), FUZZ_SECONDS
// (per server) and FUZZ_TARGETS (imap,pop3,managesieve,smtp,submission,milter,spamd,rspamd-http) choose the run.
// Prints only; never fails.
import path from 'node:path';
import type { TestContext } from 'node:test';
import { describe, fuzz, readCorpus, type FuzzTarget } from '../helpers/fuzz-drive.ts';
import { seedFrom } from '../helpers/fuzz-mutate.ts';
import { MILTER_SESSIONS } from '../helpers/fuzz-milter.ts';
import { fuzzRequests, type RequestTarget } from '../helpers/fuzz-request.ts';
import { CORPUS_DIR, imapFuzzTarget, milterFuzzTarget, pop3FuzzTarget, rspamdHttpFuzzTarget, sieveFuzzTarget, smtpFuzzTargets, spamdFuzzTarget } from '../helpers/fuzz-servers.ts';

const TARGETS: Record<string, { corpus: string | readonly string[]; start: (t: TestContext) => Promise<FuzzTarget> }> = {
  imap: { corpus: 'imap.txt', start: imapFuzzTarget },
  pop3: { corpus: 'pop3.txt', start: pop3FuzzTarget },
  managesieve: { corpus: 'managesieve.txt', start: sieveFuzzTarget },
  smtp: { corpus: 'smtp.txt', start: async (t) => (await smtpFuzzTargets(t)).gateway },
  submission: { corpus: 'smtp.txt', start: async (t) => (await smtpFuzzTargets(t)).submission },
  // the milter's corpus: the names of its valid packet sequences (test/helpers/fuzz-milter.ts)
  milter: { corpus: Object.keys(MILTER_SESSIONS), start: milterFuzzTarget },
};

/** Listeners that take one request per connection: each mutated request on its own, then a valid one. */
const REQUEST_TARGETS: Record<string, (t: TestContext) => Promise<RequestTarget>> = {
  spamd: spamdFuzzTarget,
  'rspamd-http': rspamdHttpFuzzTarget,
};

export async function run(): Promise<void> {
  const seed = seedFrom(process.env, Date.now() % 2 ** 31);
  const count = Number(process.env.FUZZ_COUNT ?? 20_000);
  const seconds = Number(process.env.FUZZ_SECONDS ?? 300);
  const names = (process.env.FUZZ_TARGETS ?? [...Object.keys(TARGETS), ...Object.keys(REQUEST_TARGETS)].join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  console.log(`fuzz: seed ${seed} (FUZZ_SEED=${seed} repeats this run)`);
  for (const name of names) {
    const request = REQUEST_TARGETS[name];
    if (request) {
      await runRequests(name, request, seed, count, seconds);
      continue;
    }
    const spec = TARGETS[name];
    if (!spec) {
      console.error(`fuzz: unknown target ${name} (have: ${[...Object.keys(TARGETS), ...Object.keys(REQUEST_TARGETS)].join(', ')})`);
      continue;
    }
    const cleanups: Array<() => unknown> = [];
    const t = { after: (fn: () => unknown) => void cleanups.push(fn) } as unknown as TestContext;
    try {
      const target = await spec.start(t);
      const started = Date.now();
      const corpus = typeof spec.corpus === 'string' ? readCorpus(path.join(CORPUS_DIR, spec.corpus)) : spec.corpus;
      const result = await fuzz(target, corpus, { seed, iterations: count, budgetMs: seconds * 1000, probeTimeoutMs: 5000 });
      console.log(describe(name, result));
      console.log(`fuzz ${name}: ${((Date.now() - started) / 1000).toFixed(1)} s, heap ${mib(process.memoryUsage().heapUsed)} MiB, buffers ${mib(process.memoryUsage().arrayBuffers)} MiB`);
    } finally {
      for (const fn of cleanups.reverse()) await fn();
    }
  }
}

const mib = (n: number): string => (n / 2 ** 20).toFixed(0);

/** A one-request-per-connection listener: each mutated request on its own connection, then a valid probe. */
async function runRequests(name: string, start: (t: TestContext) => Promise<RequestTarget>, seed: number, count: number, seconds: number): Promise<void> {
  const cleanups: Array<() => unknown> = [];
  const t = { after: (fn: () => unknown) => void cleanups.push(fn) } as unknown as TestContext;
  try {
    const target = await start(t);
    const started = Date.now();
    console.log(describe(name, await fuzzRequests(target, { seed, iterations: count, budgetMs: seconds * 1000, timeoutMs: 10_000 })));
    console.log(`fuzz ${name}: ${((Date.now() - started) / 1000).toFixed(1)} s, heap ${mib(process.memoryUsage().heapUsed)} MiB, buffers ${mib(process.memoryUsage().arrayBuffers)} MiB`);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}
