// Fuzzes a one-request-per-connection listener (spamd, the rspamd HTTP scan protocol): each mutated request goes
// on a fresh connection, half-closed; what comes back before the server closes must be the protocol's reply (an
// error line counts), within a bound; then a valid probe request on a new connection must still be answered.
// Records uncaught exceptions of this process, unanswered requests and malformed replies.
import net from 'node:net';
import { catchUncaught, type Finding, type FuzzResult } from './fuzz-drive.ts';
import { mutate, Rng } from './fuzz-mutate.ts';

export interface RequestTarget {
  name: string;
  port: number;
  corpus: readonly Buffer[];
  /** A problem with the reply to a mutated request (empty if the server closed without a word), or undefined. */
  check(reply: Buffer, sent: Buffer): string | undefined;
  probe: Buffer;
  probeOk(reply: Buffer): boolean;
  /** A protocol-aware mutator used instead of the line mutators (HTTP: headers, lengths, chunks). */
  mutate?(base: Buffer, rng: Rng): Buffer;
}

/** Sends `data` on a fresh connection, half-closes, and collects the reply until close or `ms` (a bound). */
export function exchange(port: number, data: Buffer, ms: number): Promise<{ reply: Buffer; timedOut: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ reply: Buffer.concat(chunks), timedOut: true });
    }, ms);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ reply: Buffer.concat(chunks), timedOut: false });
    });
    sock.on('connect', () => sock.end(data));
  });
}

export async function fuzzRequests(target: RequestTarget, opts: { seed: number; iterations: number; budgetMs: number; timeoutMs: number }): Promise<FuzzResult> {
  const rng = new Rng(opts.seed);
  const result: FuzzResult = { seed: opts.seed, iterations: 0, reconnects: 0, inconclusive: 0, findings: [] };
  const record = (f: Finding): void => void (result.findings.length < 50 && result.findings.push(f));
  const uncaught = catchUncaught();
  const deadline = Date.now() + opts.budgetMs;
  try {
    for (let i = 0; i < opts.iterations && Date.now() < deadline; i++) {
      result.iterations++;
      const base = rng.pick(target.corpus);
      const sent = target.mutate ? target.mutate(base, rng) : mutate(base, rng);
      const input = JSON.stringify(sent.length > 300 ? `${sent.subarray(0, 200).toString('latin1')}…(${sent.length} bytes)` : sent.toString('latin1'));
      const { reply, timedOut } = await exchange(target.port, sent, opts.timeoutMs);
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (timedOut) record({ kind: 'hang', iteration: i, input, detail: JSON.stringify(reply.toString('latin1').slice(0, 300)) });
      else {
        const problem = target.check(reply, sent);
        if (problem) record({ kind: 'reply', iteration: i, input, detail: problem });
      }
      const probe = await exchange(target.port, target.probe, opts.timeoutMs);
      if (probe.timedOut || !target.probeOk(probe.reply)) record({ kind: 'hang', iteration: i, input, detail: `probe after it: ${JSON.stringify(probe.reply.toString('latin1').slice(0, 300))}` });
      if (uncaught.errors.length) record({ kind: 'uncaught', iteration: i, input, detail: uncaught.errors.splice(0).join('\n---\n').slice(0, 2000) });
    }
  } finally {
    uncaught.stop();
  }
  return result;
}
