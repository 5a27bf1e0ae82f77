// Relay benchmark: a separate load process pushes 4 KB messages, one per connection, through a
// spamgate process (front-of mode, queue and inline; full-stack into Maildir) to a sink process,
// and straight to the sink as reference. Prints msg/s, p50/p99 latency, spamgate's CPU seconds and
// peak RSS; with Postfix's smtp-source installed (Debian postfix), also its throughput figures.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDnsServer } from '../../helpers/dns-server.ts';
import { CLI, freePort, RELAY_DIR, runLoad, spawnTsx, usage, type LoadResult } from '../bench-processes.ts';

const COUNT = Number(process.env.RELAY_BENCH_MESSAGES ?? 5000);
const CONCURRENCIES = [10, 50];
/** A syntactically valid scrypt hash (nobody logs in during the benchmark). */
const FAKE_HASH = '$scrypt$16384$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=';

const outputs = new WeakMap<ChildProcess, { text: string }>();

/** Waits until the child's stdout (since start) matches; the stream stays open. */
async function readLine(child: ChildProcess, pattern: RegExp, timeoutMs = 600_000): Promise<RegExpExecArray> {
  let state = outputs.get(child);
  if (!state) {
    const fresh = { text: '' };
    outputs.set(child, fresh);
    child.stdout?.on('data', (d: Buffer) => (fresh.text += d.toString()));
    state = fresh;
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = pattern.exec(state.text);
    if (m) return m;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no ${pattern} from child: ${state.text}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const SMTP_SOURCE = '/usr/sbin/smtp-source';

/** Throughput measured with Postfix's smtp-source (C, light on CPU) when it is installed. */
async function smtpSource(port: number, concurrency: number, rcpt = 'user@relay.example'): Promise<number | undefined> {
  if (!existsSync(SMTP_SOURCE)) return undefined;
  const started = performance.now();
  const child = spawn(SMTP_SOURCE, ['-s', String(concurrency), '-m', String(COUNT), '-l', '4096', '-f', 'load@remote.example', '-t', rcpt, `127.0.0.1:${port}`], { stdio: 'ignore' });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) return undefined;
  return COUNT / ((performance.now() - started) / 1000);
}

async function sinkCount(sink: ChildProcess): Promise<number> {
  const state = outputs.get(sink);
  if (state) state.text = '';
  sink.stdin?.write('count\n');
  const m = await readLine(sink, /count (\d+)\n/);
  return Number(m[1]);
}

function row(name: string, c: number, r: LoadResult, extra = ''): string {
  return `${name.padEnd(38)} c=${String(c).padEnd(3)} ${r.rate.toFixed(0).padStart(6)} msg/s  p50 ${r.p50.toFixed(1).padStart(7)} ms  p99 ${r.p99.toFixed(1).padStart(7)} ms  failed ${r.failed}${extra}`;
}

export async function run(): Promise<void> {
  console.log(`\n== relay: ${COUNT} messages of 4 KB per run, one message per connection ==`);
  const sink = spawnTsx(path.join(RELAY_DIR, 'sink.ts'), ['0']);
  const sinkPort = Number((await readLine(sink, /listening (\d+)/))[1]);
  const dns = await startDnsServer({});
  try {
    for (const c of CONCURRENCIES) {
      console.log(row('reference: straight to sink', c, await runLoad(sinkPort, COUNT, c)));
      const src = await smtpSource(sinkPort, c);
      if (src !== undefined) console.log(`${'  same, load from smtp-source'.padEnd(38)} c=${String(c).padEnd(3)} ${src.toFixed(0).padStart(6)} msg/s`);
    }
    const upstream = (mode: 'queue' | 'inline', max: number) => ({ mode, upstream: { host: '127.0.0.1', port: sinkPort, max_connections: max } });
    const variants: Array<{ name: string; config: Record<string, unknown>; rcpt?: string }> = [
      { name: 'queue, default checks', config: { mode: 'front-of', delivery: upstream('queue', 20) } },
      { name: 'queue, all checks', config: { mode: 'front-of', delivery: upstream('queue', 20), smtp: { trusted_networks: [] } } },
      { name: 'inline, default checks', config: { mode: 'front-of', delivery: upstream('inline', 50) } },
      { name: 'full-stack into Maildir', config: { mode: 'full-stack', users: { 'user@localhost': { password: FAKE_HASH } } }, rcpt: 'user@localhost' },
    ];
    for (const variant of variants) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-bench-'));
      const smtpPort = await freePort();
      const config = path.join(dir, 'spamgate.yaml');
      const extraSmtp = (variant.config.smtp ?? {}) as Record<string, unknown>;
      // YAML is a superset of JSON: the config is written as JSON.
      const full = {
        ...variant.config,
        data_dir: path.join(dir, 'data'),
        log_level: 'warn',
        local_domains: ['relay.example', 'localhost'],
        smtp: { listen: { port: smtpPort }, greet_delay: 0, max_connections_per_ip: 200, ...extraSmtp },
        submission: { enabled: false },
        http: { enabled: false },
        pop3: { enabled: false },
        imap: { enabled: false },
        dns: { servers: [dns.server] },
      };
      writeFileSync(config, JSON.stringify(full, null, 2));
      const gw = spawn(process.execPath, [CLI, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
      await readLine(gw, /smtp\s+listening/);
      const pid = gw.pid ?? 0;
      for (const c of CONCURRENCIES) {
        const before = usage(pid);
        const r = await runLoad(smtpPort, COUNT, c, variant.rcpt);
        const after = usage(pid);
        console.log(row(`spamgate ${variant.name}`, c, r, `  cpu ${(after.cpu - before.cpu).toFixed(1)} s  peak rss ${after.peakRssMb.toFixed(0)} MB`));
        const cpuBefore = usage(pid).cpu;
        const src = await smtpSource(smtpPort, c, variant.rcpt);
        if (src !== undefined) console.log(`${'  same, load from smtp-source'.padEnd(38)} c=${String(c).padEnd(3)} ${src.toFixed(0).padStart(6)} msg/s  cpu ${(usage(pid).cpu - cpuBefore).toFixed(1)} s`);
      }
      gw.kill('SIGTERM');
      await once(gw, 'exit');
      rmSync(dir, { recursive: true, force: true });
    }
    console.log(`sink received ${await sinkCount(sink)} messages in all`);
  } finally {
    sink.kill();
    await dns.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) void run();
