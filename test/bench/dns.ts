// DNS benchmark: SPF evaluations/s and DNSBL checks/s against the local dns2 server, cold and warm
// cache, and the latency the DNS checks add to one message (connect + helo + mail phases).
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { createDnsChecks } from '../../src/checks/dns-checks.ts';
import type { Check } from '../../src/checks/types.ts';
import { createResolver } from '../../src/dns/dns2-resolver.ts';
import { createDnsblEngine } from '../../src/dns/dnsbl.ts';
import { dnsblSectionSchema } from '../../src/dns/dnsbl-rules.ts';
import { checkSpf } from '../../src/dns/spf.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { makeContext } from '../unit/checks/dns-context.ts';
import { startDnsServer, type Zones } from '../helpers/dns-server.ts';

const N = 500;
const CONCURRENCY = 50;

function buildZones(): Zones {
  const zones: Zones = { '2.0.0.127.bl.test': [{ A: '127.0.0.2' }] };
  for (let i = 0; i < N; i++) {
    zones[`d${i}.test`] = [{ TXT: `v=spf1 mx include:_spf.d${i}.test -all` }, { MX: [10, `mx.d${i}.test`] }];
    zones[`mx.d${i}.test`] = [{ A: `198.51.100.${i % 250}` }];
    zones[`_spf.d${i}.test`] = [{ TXT: `v=spf1 ip4:203.0.113.0/24 ip4:192.0.2.${i % 250} -all` }];
    if (i % 2 === 0) zones[`${i % 250}.${Math.floor(i / 250)}.0.10.bl.test`] = [{ A: '127.0.0.2' }];
  }
  return zones;
}

async function pool<T>(items: T[], fn: (item: T) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  }));
  return performance.now() - started;
}

export async function run(): Promise<void> {
  const dns = await startDnsServer(buildZones(), { defaultTtl: 3600 });
  try {
    const resolver = createResolver({ servers: [dns.server], timeoutMs: 2000, retries: 1, cacheSize: 50_000, registry: new Registry() });
    const ids = Array.from({ length: N }, (_, i) => i);
    const spf = (i: number) => checkSpf({ resolver, ip: `192.0.2.${i % 250}`, mailFrom: `a@d${i}.test`, helo: 'h.test', hostname: 'mx.test' });
    const lists = dnsblSectionSchema.parse({ bl: { zone: 'bl.test', codes: { '127.0.0.2': 'DNSBL_BL' } } });
    const engine = createDnsblEngine({ resolver, lists, log: silentLogger, clock: systemClock });
    await engine.checkHealth();
    const bl = (i: number) => engine.lookup('bl', `10.0.${Math.floor(i / 250)}.${i % 250}`);

    const rate = (ms: number) => ((N / ms) * 1000).toFixed(0);
    let ms = await pool(ids, spf);
    console.log(`dns bench: SPF cold cache   ${rate(ms)} evaluations/s (${N} domains, 3 queries each, concurrency ${CONCURRENCY})`);
    ms = await pool(ids, spf);
    console.log(`dns bench: SPF warm cache   ${rate(ms)} evaluations/s`);
    ms = await pool(ids, bl);
    console.log(`dns bench: DNSBL cold cache ${rate(ms)} lookups/s (half listed)`);
    ms = await pool(ids, bl);
    console.log(`dns bench: DNSBL warm cache ${rate(ms)} lookups/s`);

    // Added latency per message: fcrdns + helo + spf_helo + dnsbl + spf, one message at a time.
    const { checks } = createDnsChecks({ resolver, dnsbl: lists, hostname: 'mx.test', log: silentLogger, clock: systemClock });
    const perPhase: Check[] = checks.filter((c) => c.phase !== 'data');
    const message = async (i: number): Promise<void> => {
      const session = { clientIp: `10.0.${Math.floor(i / 250)}.${i % 250}`, helo: `mx.d${i}.test` };
      for (const phase of ['connect', 'helo', 'mail'] as const) {
        const ctx = makeContext(phase, session, { mailFrom: `a@d${i}.test` });
        await Promise.all(perPhase.filter((c) => c.phase === phase).map((c) => c.run(ctx)));
      }
    };
    for (const label of ['cold', 'warm'] as const) {
      if (label === 'cold') resolver.clear();
      const samples: number[] = [];
      for (let i = 0; i < 100; i++) {
        const t0 = performance.now();
        await message(i);
        samples.push(performance.now() - t0);
      }
      samples.sort((a, b) => a - b);
      const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
      console.log(`dns bench: added latency per message (${label} cache): mean ${mean.toFixed(2)} ms, p95 ${samples[94]?.toFixed(2)} ms`);
    }
  } finally {
    await dns.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
