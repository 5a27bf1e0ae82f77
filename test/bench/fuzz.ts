// Opt-in protocol fuzz run (`BENCH=fuzz npm run bench`): spamgate's IMAP, POP3, ManageSieve, SMTP gateway and
// submission servers and the spamd listener take seeded mutated commands, each followed by a probe; prints every finding (uncaught
// exception, hang, silent close, malformed reply) with the input that caused it. FUZZ_SEED, FUZZ_COUNT (per
// server), FUZZ_SECONDS (per server) and FUZZ_TARGETS (imap,pop3,managesieve,smtp,submission,spamd) choose the run. Prints only; never fails.
import path from 'node:path';
import type { TestContext } from 'node:test';
import { describe, fuzz, readCorpus, type FuzzTarget } from '../helpers/fuzz-drive.ts';
import { seedFrom } from '../helpers/fuzz-mutate.ts';
import { fuzzRequests } from '../helpers/fuzz-request.ts';
import { CORPUS_DIR, imapFuzzTarget, pop3FuzzTarget, sieveFuzzTarget, smtpFuzzTargets, spamdFuzzTarget } from '../helpers/fuzz-servers.ts';

const TARGETS: Record<string, { corpus: string; start: (t: TestContext) => Promise<FuzzTarget> }> = {
  imap: { corpus: 'imap.txt', start: imapFuzzTarget },
  pop3: { corpus: 'pop3.txt', start: pop3FuzzTarget },
  managesieve: { corpus: 'managesieve.txt', start: sieveFuzzTarget },
  smtp: { corpus: 'smtp.txt', start: async (t) => (await smtpFuzzTargets(t)).gateway },
  submission: { corpus: 'smtp.txt', start: async (t) => (await smtpFuzzTargets(t)).submission },
};

export async function run(): Promise<void> {
  const seed = seedFrom(process.env, Date.now() % 2 ** 31);
  const count = Number(process.env.FUZZ_COUNT ?? 20_000);
  const seconds = Number(process.env.FUZZ_SECONDS ?? 300);
  const names = (process.env.FUZZ_TARGETS ?? [...Object.keys(TARGETS), 'spamd'].join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of names) {
    if (name === 'spamd') {
      await runSpamd(seed, count, seconds);
      continue;
    }
    const spec = TARGETS[name];
    if (!spec) {
      console.error(`fuzz: unknown target ${name} (have: ${Object.keys(TARGETS).join(', ')})`);
      continue;
    }
    const cleanups: Array<() => unknown> = [];
    const t = { after: (fn: () => unknown) => void cleanups.push(fn) } as unknown as TestContext;
    try {
      const target = await spec.start(t);
      const started = Date.now();
      const result = await fuzz(target, readCorpus(path.join(CORPUS_DIR, spec.corpus)), { seed, iterations: count, budgetMs: seconds * 1000, probeTimeoutMs: 5000 });
      console.log(describe(name, result));
      console.log(`fuzz ${name}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      for (const fn of cleanups.reverse()) await fn();
    }
  }
}

/** spamd takes one request per connection: each mutated request on its own, then a PING. */
async function runSpamd(seed: number, count: number, seconds: number): Promise<void> {
  const cleanups: Array<() => unknown> = [];
  const t = { after: (fn: () => unknown) => void cleanups.push(fn) } as unknown as TestContext;
  try {
    const target = await spamdFuzzTarget(t);
    const started = Date.now();
    console.log(describe('spamd', await fuzzRequests(target, { seed, iterations: count, budgetMs: seconds * 1000, timeoutMs: 10_000 })));
    console.log(`fuzz spamd: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}
