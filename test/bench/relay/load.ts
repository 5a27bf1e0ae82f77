// Load generator, run as its own process: N messages of a given size at concurrency C, one
// message per connection (EHLO, MAIL, RCPT, DATA, QUIT). Prints one JSON line of figures.
import net from 'node:net';

const [portArg, countArg, concArg, sizeArg, rcptArg] = process.argv.slice(2);
const rcpt = rcptArg ?? 'user@relay.example';
const port = Number(portArg);
const count = Number(countArg ?? 5000);
const concurrency = Number(concArg ?? 10);
const size = Number(sizeArg ?? 4096);
const DEADLINE_MS = 300_000;

const filler = 'The quick brown fox jumps over the lazy dog, again and again and again.\r\n';
const header = 'From: load@remote.example\r\nTo: recipient@relay.example\r\nSubject: load test\r\nDate: Sun, 22 Nov 2026 00:00:00 +0000\r\nMessage-ID: <ID@remote.example>\r\n\r\n';
const bodyLines = filler.repeat(Math.max(1, Math.ceil((size - header.length) / filler.length)));

function oneMessage(i: number): Promise<{ ok: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let buf = '';
    let step = 0;
    const script = [
      'EHLO load.test.example\r\n',
      'MAIL FROM:<load@remote.example>\r\n',
      `RCPT TO:<${rcpt}>\r\n`,
      'DATA\r\n',
      header.replace('ID', `${process.pid}.${i}`) + bodyLines + '.\r\n',
      'QUIT\r\n',
    ];
    const expect = [220, 250, 250, 250, 354, 250, 221];
    let ok = true;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      buf += d;
      for (;;) {
        const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(buf);
        if (!m) return;
        buf = buf.slice((m.index ?? 0) + m[0].length);
        if (Number(m[1]) !== expect[step]) ok = false;
        const next = script[step];
        step++;
        if (next === undefined || !ok) {
          socket.end();
          return;
        }
        socket.write(next);
      }
    });
    socket.on('close', () => resolve({ ok: ok && step >= expect.length, ms: performance.now() - started }));
    socket.on('error', () => {
      ok = false;
    });
  });
}

async function main(): Promise<void> {
  const latencies: number[] = [];
  let failed = 0;
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count && performance.now() - started < DEADLINE_MS) {
      const r = await oneMessage(next++);
      latencies.push(r.ms);
      if (!r.ok) failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  process.stdout.write(JSON.stringify({ sent: latencies.length, failed, seconds, rate: (latencies.length - failed) / seconds, p50: pct(0.5), p99: pct(0.99) }) + '\n');
}

void main();
