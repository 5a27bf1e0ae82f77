// A block list's answer (A records) → its symbols. A combined list (RFC 5782 §2.3) tells its sub-lists apart in
// one of two ways, and a list may use both: by the address (`codes`: exact addresses or CIDR blocks, as Spamhaus
// ZEN and DBL answer) or by bits of the last octet of 127.0.0.X (`bits`, as multi.surbl.org and multi.uribl.com
// answer: one address carries every sub-list that holds the name). An answer neither reading documents (127.255.255.254 "public resolver refused", URIBL's 127.0.0.1
// "query refused", an address outside 127.0.0.0/24 for bits) is a list error, never a listing.
import { cidrContains, ipToBigInt, parseCidr, type Cidr } from '../util/cidr.ts';

export interface AnswerMap {
  codes: ReadonlyArray<{ cidr: Cidr; symbol: string }>;
  /** Bit value (1, 2, 4 … 128) → symbol. */
  bits: ReadonlyArray<{ bit: number; symbol: string }>;
}

export type AnswerResult = { ok: true; symbols: string[] } | { ok: false; reason: string };

const BITMASK_NET = parseCidr('127.0.0.0/24') as Cidr;

/** Compiles a list's validated `codes` and `bits` (the schema has checked every key). */
export function compileAnswerMap(codes: Readonly<Record<string, string>>, bits: Readonly<Record<string, string>>): AnswerMap {
  return {
    codes: Object.entries(codes).map(([k, symbol]) => ({ cidr: parseCidr(k) as Cidr, symbol })),
    bits: Object.entries(bits).map(([k, symbol]) => ({ bit: Number(k), symbol })),
  };
}

/** The symbols of one answer address, or why it is no documented answer. */
export function symbolsOfAnswer(map: AnswerMap, address: string): AnswerResult {
  const exact = map.codes.find((c) => cidrContains(c.cidr, address));
  if (exact) return { ok: true, symbols: [exact.symbol] };
  if (map.bits.length && cidrContains(BITMASK_NET, address)) {
    const octet = Number((ipToBigInt(address)?.value ?? 0n) & 0xffn);
    const symbols = map.bits.filter((b) => (octet & b.bit) !== 0).map((b) => b.symbol);
    // bits the list does not document are ignored (a list adds sub-lists over time), but an answer with none of
    // the documented bits (URIBL's 127.0.0.1) carries no listing
    if (symbols.length) return { ok: true, symbols };
  }
  return { ok: false, reason: `undocumented answer ${address}` };
}

/** Every answer address must be documented; the symbols of all of them, without repeats. */
export function symbolsOfAnswers(map: AnswerMap, addresses: readonly string[]): AnswerResult {
  const symbols = new Set<string>();
  for (const a of addresses) {
    const r = symbolsOfAnswer(map, a);
    if (!r.ok) return r;
    for (const s of r.symbols) symbols.add(s);
  }
  return { ok: true, symbols: [...symbols] };
}

/** A `bits` key: one bit of the last octet, "1" to "128". */
export function isBitKey(key: string): boolean {
  if (!/^[1-9]\d{0,2}$/.test(key)) return false;
  const n = Number(key);
  return n <= 128 && (n & (n - 1)) === 0;
}
