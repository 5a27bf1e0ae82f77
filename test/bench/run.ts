// `npm run bench`: every benchmark in turn; each prints its figures beside a reference measured
// in the same run. BENCH=relay,dns,... selects some; BENCH=fuzz (the protocol fuzz run) only runs when named.
import { run as dns } from './dns.ts';
import { run as filter } from './filter.ts';
import { run as hostile } from './hostile-input.ts';
import { run as imap } from './imap.ts';
import { run as pop3 } from './pop3.ts';
import { run as fuzz } from './fuzz.ts';
import { run as redis } from './redis.ts';
import { run as relay } from './relay/index.ts';

const ALL: Record<string, () => Promise<void>> = { relay, dns, filter, pop3, imap, redis, hostile, fuzz };
/** Run only when named: the fuzz run takes minutes and prints findings, not figures. */
const OPT_IN = new Set(['fuzz']);

async function main(): Promise<void> {
  const wanted = (process.env.BENCH ?? Object.keys(ALL).filter((n) => !OPT_IN.has(n)).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of wanted) {
    const bench = ALL[name];
    if (!bench) {
      console.error(`unknown benchmark ${name} (have: ${Object.keys(ALL).join(', ')})`);
      process.exitCode = 2;
      return;
    }
    const started = Date.now();
    await bench();
    console.log(`-- ${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

void main().then(() => process.exit(process.exitCode ?? 0));
