// Literal-aware IMAP fuzzing: seeded cases built around literals — synchronising {n}, LITERAL+ {n+}, literal8 ~{n}
// — in APPEND, MULTIAPPEND, SEARCH, LOGIN and AUTHENTICATE, honest or lying about their size, zero, negative, over
// imap.max_literal or past 32 bits, sent in pieces (down to one byte per write), with COMPRESS=DEFLATE on or off,
// and some cut off mid-literal. The client follows the literal protocol (waits for "+" before a synchronising
// literal's bytes) and judges each case: its tagged reply (or a BYE) comes, a literal over the limit is refused
// before its bytes are sent, and the session still answers a NOOP. Bounded in cases and time.
import type { Socket } from 'node:net';
import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw } from 'node:zlib';
import { catchUncaught, connectLocal, PeerConn } from './fuzz-drive.ts';
import type { Rng } from './fuzz-mutate.ts';

/** A raw IMAP client connection, compressed (RFC 4978) once `compress()` has run. */
export class LiteralConn extends PeerConn {
  text = '';
  private deflate: DeflateRaw | undefined;
  private constructor(sock: Socket) {
    super(sock);
    sock.on('data', (d: Buffer) => this.received(d));
  }

  protected override peerClosed(): void {
    // compressed: what is still being inflated (a BYE) is read before the close is seen
    if (this.inflateEnd) return this.inflateEnd();
    super.peerClosed();
  }

  private inflateEnd: (() => void) | undefined;
  private inflateTo: ((d: Buffer) => void) | undefined;

  private received(d: Buffer): void {
    if (this.inflateTo) return this.inflateTo(d);
    this.text += d.toString('latin1');
    this.wake?.();
  }

  static async open(port: number): Promise<LiteralConn> {
    return new LiteralConn(await connectLocal(port, true));
  }

  /** Turns on DEFLATE both ways (after the server's tagged OK to COMPRESS). */
  compress(): void {
    const inflate = createInflateRaw();
    inflate.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      this.wake?.();
    });
    const closed = (): void => {
      this.closed = true;
      this.wake?.();
    };
    inflate.on('error', closed);
    inflate.on('close', closed);
    inflate.on('end', closed);
    this.inflateTo = (d) => void inflate.write(d);
    this.inflateEnd = () => void inflate.end();
    const deflate = createDeflateRaw();
    deflate.on('data', (d: Buffer) => {
      if (!this.closed && this.sock.writable) this.sock.write(d);
    });
    deflate.on('error', () => undefined);
    this.deflate = deflate;
  }

  /** Writes one piece (compressed and flushed as a block of its own when compression is on). */
  async write(data: Buffer): Promise<void> {
    if (this.closed || !this.sock.writable) return;
    const z = this.deflate;
    if (!z) {
      this.sock.write(data);
      return;
    }
    z.write(data);
    await new Promise<void>((resolve) => z.flush(constants.Z_SYNC_FLUSH, () => resolve()));
  }

  /** Writes `data` in pieces as `split` says, letting the event loop turn between them (separate TCP segments). */
  async send(data: Buffer, split: Split): Promise<void> {
    const pieces = splitPieces(data, split);
    for (const p of pieces) {
      await this.write(p);
      if (pieces.length > 1) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Waits until `done(text)`, the peer closes or `ms` pass (a bound, not a measurement). */
  until(done: (text: string) => boolean, ms: number): Promise<'done' | 'closed' | 'timeout'> {
    return this.waitFor(() => done(this.text), ms);
  }

  override destroy(): void {
    this.closed = true;
    super.destroy();
    this.wake?.();
  }
}

/** How one case's bytes are written: whole, one byte a write (at most the first 300 bytes), or random pieces. */
export type Split = 'whole' | 'bytes' | 'random';

function splitPieces(data: Buffer, split: Split, rngState = { s: data.length * 2654435761 }): Buffer[] {
  if (split === 'whole' || data.length <= 1) return [data];
  const out: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    let n: number;
    if (split === 'bytes') n = at < 300 ? 1 : data.length - at;
    else {
      rngState.s = (Math.imul(rngState.s, 1103515245) + 12345) >>> 0;
      n = 1 + (rngState.s % 97);
    }
    out.push(data.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** One piece of a case: bytes to send, or (before a synchronising literal's bytes) a wait for the server's "+". */
export type Step = { send: Buffer } | { awaitGoAhead: true };

export interface LiteralCase {
  /** What the case is, for the failure message. */
  kind: string;
  /** Needs a logged-in session; otherwise the case runs before login (LOGIN, AUTHENTICATE). */
  login: boolean;
  steps: Step[];
  /** The tagged status the case must end with (any of these), or undefined: not judged (a lying literal). */
  expect: readonly ('OK' | 'NO' | 'BAD')[] | undefined;
  /**
   * A literal over the limit, announced after `steps`: it must be refused before its bytes are sent (no "+", the
   * tagged NO first); then `thenSend` goes (a LITERAL+ literal's bytes, which the server drops as they come).
   * `lost`: the bytes are too many to send, so the session is given up after the refusal.
   */
  refused: { announce: Buffer; thenSend?: Buffer; lost?: boolean } | undefined;
  /** Close the connection after the steps (a literal cut off). */
  cutOff: boolean;
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const MESSAGE = 'From: a@example.net\r\nSubject: fuzz\r\n\r\nbody\r\n';

/** The literal forms: prefix (literal8 or not), and the LITERAL+ mark. */
const FORMS = [
  { pre: '', plus: false },
  { pre: '', plus: true },
  { pre: '~', plus: false },
  { pre: '~', plus: true },
];

/**
 * Builds case number `i`. `max` is imap.max_literal of the server under test, `preauthMax` what it takes before
 * login: the sizes probe both sides of them.
 */
export function literalCase(rng: Rng, tag: string, max: number, preauthMax: number): LiteralCase {
  const form = rng.pick(FORMS);
  const lit = (n: number | string, f = form): string => `${f.pre}{${n}${f.plus ? '+' : ''}}`;
  /** Steps sending `line` ending in a literal announcement, then its `data` (after "+" when synchronising). */
  const literalSteps = (line: string, data: Buffer, plus = form.plus): Step[] => [{ send: b(`${line}\r\n`) }, ...(plus ? [] : [{ awaitGoAhead: true as const }]), { send: data }];
  const kind = rng.int(12);
  const base = { refused: undefined, cutOff: false };
  switch (kind) {
    case 0: {
      // APPEND, honest size: OK for a message, NO for an empty one (RFC 3502 §6.3.11), literal8 with bare LF NO
      const msg = rng.pick([MESSAGE, '', 'x', 'a\nb', 'NUL \0 byte\r\n']);
      const flags = rng.pick(['', '(\\Seen) ', '() ', '(\\Flagged $Junk) ', '"07-Dec-2026 10:00:00 +0000" ']);
      const binaryLf = form.pre === '~' && /(^|[^\r])\n/.test(msg);
      const expect = msg === '' || binaryLf ? (['NO'] as const) : msg.includes('\0') && form.pre === '' ? (['OK', 'NO', 'BAD'] as const) : (['OK'] as const);
      return { ...base, kind: `APPEND ${flags}${lit(msg.length)} ${JSON.stringify(msg.slice(0, 12))}`, login: true, steps: [...literalSteps(`${tag} APPEND INBOX ${flags}${lit(msg.length)}`, b(msg)), { send: b('\r\n') }], expect };
    }
    case 1: {
      // APPEND over imap.max_literal: refused before its bytes (a LITERAL+ one's bytes dropped as they come)
      const n = rng.pick([max + 1, max * 2, 4_294_967_295, 999_999_999_999]);
      const refused = { announce: b(`${tag} APPEND INBOX ${lit(n)}\r\n`), ...(form.plus ? (n <= max * 2 ? { thenSend: Buffer.concat([Buffer.alloc(n, 0x78), b('\r\n')]) } : { lost: true }) : {}) };
      return { ...base, kind: `APPEND over the limit ${lit(n)}`, login: true, steps: [], expect: ['NO'], refused };
    }
    case 2: {
      // MULTIAPPEND: two messages; the second empty (a cancel: NO), or both together over the limit (NO [LIMIT])
      const second = rng.pick(['', MESSAGE, 'over']);
      const size2 = second === 'over' ? max - 10 : second.length;
      const data2 = second === 'over' ? Buffer.alloc(size2, 0x79) : b(second);
      const first = second === 'over' ? Buffer.alloc(20, 0x78) : b(MESSAGE);
      const f1 = rng.pick(FORMS);
      const steps: Step[] = [...literalSteps(`${tag} APPEND INBOX ${lit(first.length, f1)}`, first, f1.plus)];
      if (second === 'over') {
        // the announcement that takes the command past the limit is refused at once
        const refused = { announce: b(` ${lit(size2)}\r\n`), ...(form.plus ? { thenSend: Buffer.concat([data2, b('\r\n')]) } : {}) };
        return { ...base, kind: 'MULTIAPPEND over the limit together', login: true, steps, expect: ['NO'], refused };
      }
      steps.push(...literalSteps(` ${lit(size2)}`, data2), { send: b('\r\n') });
      return { ...base, kind: `MULTIAPPEND second ${JSON.stringify(second.slice(0, 10))}`, login: true, steps, expect: second === '' ? ['NO'] : ['OK', 'NO'] };
    }
    case 3: {
      // SEARCH with a literal argument (a literal8 there is bad syntax)
      const key = rng.pick(['SUBJECT', 'TEXT', 'BODY', 'FROM', 'HEADER Subject', 'CHARSET UTF-8 SUBJECT', 'CHARSET KOI8-R TEXT']);
      const word = rng.pick(['fuzz', '', 'h\xc3\xa9llo', 'x'.repeat(300)]);
      // the charset is judged before the literal's form: an unknown one is NO whatever follows
      const expect = key.includes('KOI8') ? (['NO', 'BAD'] as const) : form.pre === '~' ? (['BAD'] as const) : (['OK'] as const);
      return { ...base, kind: `SEARCH ${key} ${lit(word.length)}`, login: true, steps: [...literalSteps(`${tag} SEARCH ${key} ${lit(word.length)}`, b(word)), { send: b('\r\n') }], expect };
    }
    case 4: {
      // LOGIN with literals for user and password; before login literals are held to the smaller bound
      const user = 'alice@example.org';
      const pass = rng.pick(['wonderland', 'wrong', '']);
      const f = { pre: '', plus: rng.int(2) === 1 };
      const steps: Step[] = [...literalSteps(`${tag} LOGIN ${lit(user.length, f)}`, b(user), f.plus), ...literalSteps(` ${lit(pass.length, f)}`, b(pass), f.plus), { send: b('\r\n') }];
      return { ...base, kind: `LOGIN literals ${f.plus ? '+' : ''}`, login: false, steps, expect: pass === 'wonderland' ? ['OK'] : ['NO'] };
    }
    case 5: {
      // a literal over the pre-login bound in LOGIN: refused before its bytes
      const n = rng.pick([preauthMax + 1, max + 1, 4_294_967_296]);
      return { ...base, kind: `LOGIN over the pre-login bound {${n}}`, login: false, steps: [], expect: ['NO'], refused: { announce: b(`${tag} LOGIN {${n}}\r\n`) } };
    }
    case 6: {
      // AUTHENTICATE: a literal as the initial response is bad syntax; as the answer to "+", a malformed response
      if (rng.int(2) === 0) return { ...base, kind: 'AUTHENTICATE literal initial response', login: false, steps: [...literalSteps(`${tag} AUTHENTICATE PLAIN ${lit(4)}`, b('AAAA')), { send: b('\r\n') }], expect: ['BAD'] };
      const f = { pre: '', plus: true };
      return { ...base, kind: 'AUTHENTICATE literal response', login: false, steps: [{ send: b(`${tag} AUTHENTICATE PLAIN\r\n`) }, { awaitGoAhead: true }, ...literalSteps(lit(4, f), b('AAAA'), true), { send: b('\r\n') }], expect: ['BAD'] };
    }
    case 7: {
      // not literals: negative, signless, unclosed, past twelve digits — a BAD, nothing awaited
      const odd = rng.pick(['{-1}', '{-1+}', '{+}', '{}', '{5', '5}', '{ 5}', '{5 }', '{0x10}', '{1234567890123}', '{99999999999999999999}', '~{-3}', '{5-}', '{1e3}']);
      const cmd = rng.pick(['APPEND INBOX ', 'SEARCH SUBJECT ', 'LOGIN ', 'SELECT ', 'CREATE ']);
      // (CREATE "5}" makes a mailbox of that name: '}' is an atom character; the point is the reply)
      return { ...base, kind: `not a literal ${cmd}${odd}`, login: true, steps: [{ send: b(`${tag} ${cmd}${odd}\r\n`) }], expect: ['BAD', 'NO', 'OK'] };
    }
    case 8: {
      // zero-length literals everywhere they can be
      const cmd = rng.pick([`SELECT ${lit(0)}`, `SEARCH SUBJECT ${lit(0)}`, `CREATE ${lit(0)}`, `STATUS ${lit(0)} (MESSAGES)`, `APPEND INBOX ${lit(0)}`, `LIST ${lit(0)} ${lit(0)}`]);
      const parts = cmd.split(/(?<=\})/);
      const steps: Step[] = [];
      parts.forEach((p, k) => {
        if (!p.endsWith('}')) return steps.push({ send: b(p) });
        steps.push({ send: b(`${k === 0 ? `${tag} ` : ''}${p}\r\n`) }, ...(form.plus ? [] : [{ awaitGoAhead: true as const }]));
        return undefined;
      });
      steps.push({ send: b('\r\n') });
      return { ...base, kind: `zero-length ${cmd}`, login: true, steps, expect: ['OK', 'NO', 'BAD'] };
    }
    case 9: {
      // announced, then the connection closes mid-literal
      const n = rng.pick([10, 1000, max]);
      return { ...base, kind: `cut off mid-literal ${lit(n)}`, login: true, steps: [...literalSteps(`${tag} APPEND INBOX ${lit(n)}`, Buffer.alloc(Math.floor(n / 2), 0x7a))], expect: undefined, cutOff: true };
    }
    case 10: {
      // a literal that lies: fewer bytes than announced (the next command's bytes are taken for it) or more
      const n = rng.pick([5, 50]);
      const sent = rng.pick([0, 3, n + 7]);
      return { ...base, kind: `lying literal ${lit(n)} with ${sent} bytes`, login: true, steps: [...literalSteps(`${tag} APPEND INBOX ${lit(n)}`, Buffer.alloc(sent, 0x61)), { send: b('\r\n') }], expect: undefined };
    }
    default: {
      // a line over imap.max_line before a literal, or many literals each zero (a line-count bound)
      // (a LITERAL+ one's bytes are sent, and dropped with the refused line; a synchronising one is never sent)
      if (rng.int(2) === 0) return { ...base, kind: `over-long line with a literal ${lit(3)}`, login: true, steps: [{ send: b(`${tag} SEARCH SUBJECT ${'a'.repeat(70_000)} ${lit(3)}\r\n${form.plus ? 'abc\r\n' : ''}`) }], expect: ['BAD'] };
      const count = rng.pick([10, 200]);
      const steps: Step[] = [{ send: b(`${tag} SEARCH`) }];
      for (let k = 0; k < count; k++) steps.push({ send: b(` OR SUBJECT {0+}\r\n`) });
      steps.push({ send: b(' ALL ALL\r\n') });
      return { ...base, kind: `${count} zero LITERAL+ in one SEARCH`, login: true, steps, expect: ['OK', 'BAD'] };
    }
  }
}

export interface LiteralFinding {
  case: number;
  kind: string;
  compressed: boolean;
  split: Split;
  detail: string;
}

export interface LiteralRun {
  seed: number;
  cases: number;
  /** Cases whose outcome is rightly open (a lying literal the server still waits on). */
  inconclusive: number;
  compressed: number;
  findings: LiteralFinding[];
}

export interface LiteralFuzzOptions {
  port: number;
  seed: number;
  cases: number;
  /** Stops early past this (a bound, not asserted). */
  budgetMs: number;
  /** imap.max_literal of the server, and its bound before login. */
  max: number;
  preauthMax: number;
  /** Wait for a reply that must come. */
  replyMs: number;
  /** Wait for one the server may rightly hold back (a lying literal). */
  waitMs: number;
}

const tagged = (tag: string): RegExp => new RegExp(`(^|\\r\\n)${tag} (OK|NO|BAD)[^\\r]*\\r\\n`);
const BYE = /(^|\r\n)\* BYE [^\r]*\r\n/;

async function session(port: number, login: boolean, compress: boolean, replyMs: number): Promise<LiteralConn> {
  const c = await LiteralConn.open(port);
  const need = async (line: string, re: RegExp): Promise<void> => {
    c.text = '';
    if (line) await c.write(b(`${line}\r\n`));
    const r = await c.until((t) => re.test(t), replyMs);
    if (r !== 'done') throw new Error(`set-up ${JSON.stringify(line)}: ${r}; got ${JSON.stringify(c.text.slice(-200))}`);
  };
  await need('', /^\* OK [^\r]*\r\n/);
  if (!login) {
    c.text = '';
    return c;
  }
  await need('L LOGIN alice@example.org wonderland', /(^|\r\n)L OK[^\r]*\r\n/);
  if (compress) {
    await need('Z COMPRESS DEFLATE', /(^|\r\n)Z OK[^\r]*\r\n/);
    c.compress();
  }
  await need('S SELECT INBOX', /(^|\r\n)S OK[^\r]*\r\n/);
  c.text = '';
  return c;
}

/**
 * Runs `cases` literal cases from `seed`, each on a fresh session (logged in and INBOX selected, or not yet logged
 * in), COMPRESS=DEFLATE on for about half of the logged-in ones, and records what breaks the rule: no tagged
 * reply (or BYE) where one must come, a "+" or a missing NO for a literal over the limit, a session that no longer
 * answers NOOP, an internal error reply, an exception escaping to this process.
 */
export async function literalFuzz(rng: Rng, opts: LiteralFuzzOptions): Promise<LiteralRun> {
  const run: LiteralRun = { seed: opts.seed, cases: 0, inconclusive: 0, compressed: 0, findings: [] };
  const uncaught = catchUncaught();
  const deadline = Date.now() + opts.budgetMs;
  try {
    for (let i = 0; i < opts.cases && Date.now() < deadline; i++) {
      run.cases++;
      const tag = `F${i}`;
      const lc = literalCase(rng, tag, opts.max, opts.preauthMax);
      const compress = lc.login && rng.int(2) === 1;
      const split = rng.pick<Split>(['whole', 'bytes', 'random']);
      if (compress) run.compressed++;
      const found = (detail: string): void => void run.findings.push({ case: i, kind: lc.kind, compressed: compress, split, detail });
      const c = await session(opts.port, lc.login, compress, opts.replyMs);
      try {
        let answered = false;
        for (const step of lc.steps) {
          if ('send' in step) {
            await c.send(step.send, split);
            continue;
          }
          // before a synchronising literal's bytes: the go-ahead, or the command's refusal
          const r = await c.until((t) => /(^|\r\n)\+ [^\r]*\r\n/.test(t) || tagged(tag).test(t) || BYE.test(t), opts.replyMs);
          if (r !== 'done') {
            found(`no go-ahead nor reply to a synchronising literal: ${r}; got ${JSON.stringify(c.text.slice(-200))}`);
            break;
          }
          if (!/(^|\r\n)\+ [^\r]*\r\n/.test(c.text)) {
            answered = true; // refused before the literal: the rest of the command is not sent
            break;
          }
          c.text = c.text.replace(/(^|\r\n)\+ [^\r]*\r\n/, '$1');
        }
        if (lc.cutOff) {
          c.destroy();
          continue; // the session after is judged by the next case's fresh one
        }
        let lost = false;
        if (lc.refused && !answered) {
          const before = c.text.length;
          await c.send(lc.refused.announce, split);
          const r = await c.until((t) => tagged(tag).test(t) || BYE.test(t) || /(^|\r\n)\+ [^\r]*\r\n/.test(t.slice(before)), opts.replyMs);
          if (/(^|\r\n)\+ [^\r]*\r\n/.test(c.text.slice(before))) found(`a literal over the limit was given the go-ahead: ${JSON.stringify(c.text.slice(-200))}`);
          else if (r !== 'done') found(`a literal over the limit was not refused before its bytes: ${r}; got ${JSON.stringify(c.text.slice(-200))}`);
          if (lc.refused.thenSend) await c.send(lc.refused.thenSend, split === 'bytes' ? 'random' : split);
          lost = lc.refused.lost === true;
        }
        if (lc.expect) {
          const r = await c.until((t) => tagged(tag).test(t) || BYE.test(t), opts.replyMs);
          const status = tagged(tag).exec(c.text)?.[2] as 'OK' | 'NO' | 'BAD' | undefined;
          if (r !== 'done') found(`no tagged reply: ${r}; got ${JSON.stringify(c.text.slice(-300))}`);
          else if (status && !lc.expect.includes(status)) found(`tagged ${status}, expected ${lc.expect.join('/')}: ${JSON.stringify(c.text.slice(-300))}`);
        }
        if (/\[SERVERBUG\]/.test(c.text)) found(`internal error reply: ${JSON.stringify(c.text.slice(-300))}`);
        if (!lost && !BYE.test(c.text)) {
          // the session goes on: a NOOP is answered
          await c.write(b(`P${i} NOOP\r\n`));
          const bound = lc.expect ? opts.replyMs : opts.waitMs;
          const r = await c.until((t) => new RegExp(`(^|\\r\\n)P${i} OK`).test(t) || BYE.test(t), bound);
          if (r !== 'done') {
            if (lc.expect) found(`the session no longer answers NOOP: ${r}; got ${JSON.stringify(c.text.slice(-300))}`);
            else run.inconclusive++;
          }
        }
      } finally {
        c.destroy();
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (uncaught.errors.length) found(`uncaught: ${uncaught.errors.splice(0).join('\n---\n').slice(0, 2000)}`);
    }
    // the server is still up: a fresh session logs in
    (await session(opts.port, true, false, opts.replyMs)).destroy();
  } finally {
    uncaught.stop();
  }
  return run;
}

export function describeLiteralRun(r: LiteralRun): string {
  const head = `fuzz imap literals: seed ${r.seed} (FUZZ_SEED to change), ${r.cases} cases (${r.compressed} compressed), ${r.inconclusive} inconclusive, ${r.findings.length} findings`;
  return [head, ...r.findings.slice(0, 30).map((f) => `  #${f.case} ${f.kind} [${f.compressed ? 'deflate' : 'plain'}, ${f.split}]: ${f.detail}`)].join('\n');
}
