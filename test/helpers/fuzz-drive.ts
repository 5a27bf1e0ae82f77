// Drives a protocol server with mutated commands over a real socket (line-based, or packets through the target's
// own mutator): each mutated command is followed by a fixed probe whose reply is awaited within a bound; records
// uncaught exceptions of this process, hangs (probe unanswered), connections closed without a reason, replies
// that break the protocol's syntax and (through the target's check) commands left without their tagged reply. Bounded in iterations and time.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { mutate, Rng } from './fuzz-mutate.ts';

/** Connects to `port` on 127.0.0.1; the socket once connected (`noDelay`: each write its own segment). */
export function connectLocal(port: number, noDelay = false): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => resolve(sock));
    if (noDelay) sock.setNoDelay(true);
    sock.once('error', reject);
  });
}

/** A client socket to the server under test: notes the peer's close and lets the caller wait on a condition. */
export class PeerConn {
  closed = false;
  protected wake: (() => void) | undefined;
  protected constructor(readonly sock: Socket) {
    sock.on('close', () => this.peerClosed());
    sock.on('error', () => undefined);
  }

  protected peerClosed(): void {
    this.closed = true;
    this.wake?.();
  }

  /** Waits until `done()`, the peer closes or `ms` pass (a bound, not a measurement); new data must call `wake`. */
  async waitFor(done: () => boolean, ms: number): Promise<'done' | 'closed' | 'timeout'> {
    let timedOut = false;
    const timer = setTimeout(() => ((timedOut = true), this.wake?.()), ms);
    try {
      for (;;) {
        if (done()) return 'done';
        if (this.closed) return 'closed';
        if (timedOut) return 'timeout';
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      clearTimeout(timer);
    }
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** A raw connection collecting what the server sends as latin1 text. */
export class FuzzConn extends PeerConn {
  text = '';
  private constructor(sock: Socket) {
    super(sock);
    sock.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      this.wake?.();
    });
  }

  static async open(port: number): Promise<FuzzConn> {
    return new FuzzConn(await connectLocal(port));
  }

  write(data: string | Buffer): void {
    if (!this.closed && this.sock.writable) this.sock.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Waits until `done(text)`, the peer closes or `ms` pass (a bound, not a measurement). */
  until(done: (text: string) => boolean, ms: number): Promise<'done' | 'closed' | 'timeout'> {
    return this.waitFor(() => done(this.text), ms);
  }

  /** Sends `line` + CRLF and waits for `done`; throws if it does not come (session set-up must work). */
  async step(line: string, done: RegExp, ms = 10_000): Promise<string> {
    this.text = '';
    this.write(`${line}\r\n`);
    const r = await this.until((t) => done.test(t), ms);
    if (r !== 'done') throw new Error(`set-up step ${JSON.stringify(line.slice(0, 60))}: ${r}; got ${JSON.stringify(this.text.slice(-300))}`);
    return this.text;
  }

}

export interface FuzzTarget {
  name: string;
  /** A session ready for fuzzing: greeted, logged in, mailbox selected where the protocol has one. */
  open(): Promise<FuzzConn>;
  /** The bytes sent for mutated command number i (adds a tag where the protocol has them, and the line end). */
  frame(mutated: Buffer, i: number): Buffer;
  probe(i: number): string;
  probeDone(text: string, i: number): boolean;
  /** A syntax or tagging problem in what the server sent after `sent`, or undefined. */
  check(text: string, sent: Buffer, i: number): string | undefined;
  /** The server closed and said why, the protocol's way (BYE, 421, -ERR …). */
  closedWithReason(text: string): boolean;
  /** Bytes to send when the server asks for more (354 to DATA, a SASL challenge), so the probe gets through. */
  nudge?(text: string, i: number): string | undefined;
  /** The probe may rightly go unanswered: the server is waiting for what the input announced (a literal, BDAT). */
  mayWait(sent: Buffer): boolean;
  /** How long to wait on input the server may rightly wait on (default 500 ms; inconclusive either way). */
  waitMs?: number;
  /** A protocol-aware mutator used instead of the line mutators (binary protocols: the milter's packets). */
  mutate?(base: string, rng: Rng): Buffer;
}

export interface Finding {
  kind: 'uncaught' | 'hang' | 'silent-close' | 'reply';
  iteration: number;
  input: string;
  detail: string;
}

export interface FuzzResult {
  seed: number;
  iterations: number;
  reconnects: number;
  inconclusive: number;
  findings: Finding[];
}

export interface FuzzOptions {
  seed: number;
  iterations: number;
  /** Stop early after this long (the run is bounded in count and time). */
  budgetMs: number;
  probeTimeoutMs: number;
  /** Keep at most this many findings. */
  maxFindings?: number;
}

/** Reads a corpus file: one command a line, with the JS escapes the tests wrote them in (\r\n, \u00fc, \0). */
export function readCorpus(file: string): string[] {
  const unescape = (s: string): string =>
    s.replace(/\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[rnt0\\"'])/g, (_, e: string) => {
      if (e[0] === 'u' || e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
      return ({ r: '\r', n: '\n', t: '\t', '0': '\0' } as Record<string, string>)[e] ?? e;
    });
  // UTF-8 bytes as latin1 characters: the mutators work on bytes
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => Buffer.from(unescape(l), 'utf8').toString('latin1'));
}

/** Collects exceptions escaping to this process (uncaught, unhandled rejections) until `stop()`. */
export function catchUncaught(): { errors: string[]; stop(): void } {
  const errors: string[] = [];
  const onError = (err: unknown): void => void errors.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return {
    errors,
    stop: () => {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    },
  };
}

const show = (b: Buffer): string => JSON.stringify(b.length > 300 ? `${b.subarray(0, 200).toString('latin1')}…(${b.length} bytes)…${b.subarray(-60).toString('latin1')}` : b.toString('latin1'));

export async function fuzz(target: FuzzTarget, corpus: readonly string[], opts: FuzzOptions): Promise<FuzzResult> {
  const rng = new Rng(opts.seed);
  const result: FuzzResult = { seed: opts.seed, iterations: 0, reconnects: 0, inconclusive: 0, findings: [] };
  const max = opts.maxFindings ?? 50;
  const record = (f: Finding): void => {
    if (result.findings.length < max) result.findings.push(f);
  };
  const uncaught = catchUncaught();
  const deadline = Date.now() + opts.budgetMs;
  let conn = await target.open();
  try {
    for (let i = 0; i < opts.iterations && Date.now() < deadline; i++) {
      result.iterations++;
      const base = rng.pick(corpus);
      const sent = target.frame(target.mutate ? target.mutate(base, rng) : mutate(base, rng), i);
      conn.text = '';
      conn.write(sent);
      conn.write(target.probe(i));
      let nudges = 0;
      let nudgedAt = -1; // a nudge answers new text only, once
      let outcome: 'done' | 'closed' | 'timeout';
      for (;;) {
        // input the server may rightly wait on gets a short bound: it is inconclusive either way
        const bound = target.mayWait(sent) ? Math.min(opts.probeTimeoutMs, target.waitMs ?? 500) : opts.probeTimeoutMs;
        outcome = await conn.until((t) => target.probeDone(t, i) || (nudges < 3 && t.length !== nudgedAt && target.nudge?.(t, i) !== undefined), bound);
        const more = outcome === 'done' && !target.probeDone(conn.text, i) ? target.nudge?.(conn.text, i) : undefined;
        if (more === undefined) break;
        nudges++;
        nudgedAt = conn.text.length;
        conn.write(more);
      }
      // let an exception thrown just after the reply surface before judging this input
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (uncaught.errors.length) record({ kind: 'uncaught', iteration: i, input: show(sent), detail: uncaught.errors.splice(0).join('\n---\n').slice(0, 2000) });
      let reopen = false;
      if (outcome === 'done') {
        const problem = target.check(conn.text, sent, i);
        if (problem) record({ kind: 'reply', iteration: i, input: show(sent), detail: problem });
      } else if (outcome === 'closed') {
        if (!target.closedWithReason(conn.text)) record({ kind: 'silent-close', iteration: i, input: show(sent), detail: JSON.stringify(conn.text.slice(-300)) });
        reopen = true;
      } else {
        if (target.mayWait(sent)) result.inconclusive++;
        else record({ kind: 'hang', iteration: i, input: show(sent), detail: JSON.stringify(conn.text.slice(-300)) });
        reopen = true;
      }
      if (reopen) {
        conn.destroy();
        result.reconnects++;
        conn = await target.open();
      }
    }
  } finally {
    conn.destroy();
    uncaught.stop();
  }
  return result;
}

/** One line per finding, for the bench and for assertion messages. */
export function describe(target: string, r: FuzzResult): string {
  const head = `fuzz ${target}: seed ${r.seed}, ${r.iterations} inputs, ${r.reconnects} reconnects, ${r.inconclusive} inconclusive, ${r.findings.length} findings`;
  return [head, ...r.findings.map((f) => `  #${f.iteration} ${f.kind}: input ${f.input}\n    ${f.detail.split('\n').join('\n    ')}`)].join('\n');
}

/**
 * The deterministic fuzz tests' run: each seed's mutated commands (`perSeed` of them, stopping early past
 * `budgetMs`, which is a bound and not asserted) against `target`, and no finding allowed.
 */
export async function assertFuzzClean(label: string, target: FuzzTarget, corpusFile: string, opts: { seeds: readonly number[]; perSeed: number; budgetMs: number }): Promise<void> {
  const corpus = readCorpus(corpusFile);
  for (const seed of opts.seeds) {
    const result = await fuzz(target, corpus, { seed, iterations: opts.perSeed, budgetMs: opts.budgetMs, probeTimeoutMs: 10_000 });
    assert.deepEqual(result.findings, [], describe(label, result));
  }
}
