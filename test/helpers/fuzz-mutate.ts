// Seeded mutation of protocol commands for the protocol fuzz tests and the fuzz bench: a small PRNG (mulberry32)
// and mutators that break a valid command line the ways hostile clients do — flipped bytes, duplicated, deleted or
// swapped tokens, literals ({n}, {n+}, ~{n}) of the wrong size, huge numbers, NUL/CR/LF/8-bit bytes, deep
// parentheses, odd sequence sets, unbalanced quotes and over-long lines. Same seed, same output.

/** mulberry32: 32-bit state, good enough spread for picking mutations; deterministic per seed. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
}

const HUGE = ['0', '-1', '4294967295', '4294967296', '18446744073709551616', '9'.repeat(40), '1e999', '0x10', '00000000001'];
const SEQUENCES = ['1:*', '*:4294967295', '0', '1:*,*:4294967295,0', '4294967295:1', '*', '1,,2', ':', '1:', '$', '1:2:3', '3:1,' + '1,'.repeat(300) + '1'];
const ODD = ['\0', '\r', '\n', '\r\n', '\x80', '\xff', '\xc3\xa9', '\t', '\x1b', '"', '\\', '(', ')', '[', ']', '{', '}', '*', '%', ' ', '~', '+', '-'];

type Mutator = (line: Buffer, rng: Rng) => Buffer;

const tokens = (line: Buffer): string[] => line.toString('latin1').split(' ');
const join = (parts: string[]): Buffer => Buffer.from(parts.join(' '), 'latin1');

function insertAt(line: Buffer, rng: Rng, text: string | Buffer): Buffer {
  const at = rng.int(line.length + 1);
  return Buffer.concat([line.subarray(0, at), Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1'), line.subarray(at)]);
}

function literal(rng: Rng): string {
  const claimed = rng.pick([0, 1, 5, 100, 65_536, 4_294_967_295, 2 ** 53]);
  const sent = rng.pick([0, 1, 3, 7]);
  const form = rng.pick(['{n}', '{n+}', '~{n}', '~{n+}', '{n-}', '{-n}', '{n', 'n}']).replace('n', String(claimed));
  return `${form}\r\n${'x'.repeat(sent)}`;
}

const MUTATORS: readonly Mutator[] = [
  // flip a byte
  (line, rng) => {
    if (line.length === 0) return Buffer.from([rng.int(256)]);
    const out = Buffer.from(line);
    const i = rng.int(out.length);
    out[i] = (out[i] ?? 0) ^ (1 << rng.int(8));
    return out;
  },
  // duplicate a token
  (line, rng) => {
    const t = tokens(line);
    const i = rng.int(t.length);
    t.splice(i, 0, t[i] ?? '');
    return join(t);
  },
  // delete a token
  (line, rng) => {
    const t = tokens(line);
    if (t.length > 1) t.splice(rng.int(t.length), 1);
    return join(t);
  },
  // swap two tokens
  (line, rng) => {
    const t = tokens(line);
    const i = rng.int(t.length);
    const j = rng.int(t.length);
    [t[i], t[j]] = [t[j] ?? '', t[i] ?? ''];
    return join(t);
  },
  // a literal of the wrong size in place of a token or appended
  (line, rng) => {
    const t = tokens(line);
    t.splice(rng.int(t.length + 1), rng.int(2), literal(rng));
    return join(t);
  },
  // a huge or odd number in place of a token
  (line, rng) => {
    const t = tokens(line);
    t[rng.int(t.length)] = rng.pick(HUGE);
    return join(t);
  },
  // an odd sequence set in place of a token
  (line, rng) => {
    const t = tokens(line);
    t[rng.int(t.length)] = rng.pick(SEQUENCES);
    return join(t);
  },
  // NUL, CR, LF, 8-bit or syntax bytes
  (line, rng) => insertAt(line, rng, rng.pick(ODD)),
  // deeply nested parentheses (sometimes unbalanced)
  (line, rng) => {
    const depth = rng.pick([3, 50, 500, 5000]);
    return insertAt(line, rng, '('.repeat(depth) + 'ALL' + ')'.repeat(rng.int(2) ? depth : rng.int(depth)));
  },
  // an unbalanced quote
  (line, rng) => insertAt(line, rng, rng.pick(['"', '"abc', 'abc"', '"\\', '"\\"', '""""'])),
  // an over-long line or token
  (line, rng) => insertAt(line, rng, rng.pick(['A', ' ', '(', '"', '*']).repeat(rng.pick([1000, 9000, 70_000, 200_000]))),
  // truncate
  (line, rng) => line.subarray(0, rng.int(line.length + 1)),
  // repeat the whole command on one line
  (line, rng) => Buffer.concat(Array.from({ length: 2 + rng.int(3) }, () => line)),
];

/**
 * One mutated command: 1–3 mutations applied to `base` (without its line end). The result has no final CRLF;
 * the caller ends it (it may hold CR, LF or literal prefixes inside).
 */
export function mutate(base: string | Buffer, rng: Rng): Buffer {
  let line = Buffer.isBuffer(base) ? base : Buffer.from(base, 'latin1');
  const rounds = 1 + rng.int(3);
  for (let i = 0; i < rounds; i++) line = rng.pick(MUTATORS)(line, rng);
  return line;
}

/** The seed to use: FUZZ_SEED from the environment if set, else `fallback`. */
export function seedFrom(env: NodeJS.ProcessEnv, fallback: number): number {
  const s = Number(env.FUZZ_SEED);
  return Number.isFinite(s) && env.FUZZ_SEED !== undefined && env.FUZZ_SEED !== '' ? s >>> 0 : fallback;
}
