// Packet-aware fuzzing of the milter listener (Sendmail milter protocol v6: a 4-byte big-endian length, a command
// byte, its data): valid session sequences as the milter tests send them, broken the ways a confused or hostile
// peer does — wrong lengths (short, zero, a little long, 4 GB), unknown commands, strings without their NUL,
// missing arguments, packets reordered, dropped or repeated, BODY before MAIL, OPTNEG again, oversized macros —
// and the fuzz driver's target: each input is followed by a probe OPTNEG on the same connection; a close is the
// milter's answer to a protocol error, after which the driver's reopen negotiates a fresh session (its probe).
import { FuzzConn, type FuzzTarget } from './fuzz-drive.ts';
import { mutate as mutateLine, type Rng } from './fuzz-mutate.ts';
import { connectData, cstr, encode } from './milter-client.ts';

/** The listener's packet limit (src/milter/server.ts MAX_PACKET): a longer length closes the connection. */
const MAX_PACKET = 1024 * 1024;

interface Pkt {
  cmd: string;
  data: Buffer;
  /** The length written, when not data + 1 (a mutation). */
  len?: number;
}

const u32s = (...n: number[]): Buffer => {
  const b = Buffer.alloc(4 * n.length);
  n.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i));
  return b;
};
const p = (cmd: string, data: Buffer = Buffer.alloc(0)): Pkt => ({ cmd, data });
const macro = (step: string, pairs: Record<string, string>): Pkt => p('D', Buffer.concat([Buffer.from(step, 'latin1'), cstr(...Object.entries(pairs).flat())]));

const OPTNEG = p('O', u32s(6, 0x1ff, 0x1fffff));
const HEAD: Pkt[] = [OPTNEG, macro('C', { j: 'mta.example.test', '{daemon_name}': 'smtpd' }), p('C', connectData('mail.remote.example', '203.0.113.5', 40000)), p('H', cstr('mail.remote.example'))];
const ENVELOPE: Pkt[] = [macro('M', { i: 'ABC123', '{auth_authen}': 'alice' }), p('M', cstr('<sender@remote.example>', 'SIZE=100', 'BODY=8BITMIME')), p('R', cstr('<user@example.test>')), p('R', cstr('<prvs=1234abcdef=bob@example.test>'))];
const MESSAGE: Pkt[] = [
  p('T'),
  p('L', cstr('From', ' sender@remote.example')),
  p('L', cstr('To', ' user@example.test')),
  p('L', cstr('Subject', ' hello\n\tfolded')),
  p('L', cstr('Message-ID', ' <m1@remote.example>')),
  p('N'),
  p('B', Buffer.from('Hello, nothing special here.\r\n', 'latin1')),
  p('B', Buffer.from('TAG-MARKER and more\r\n.\r\n', 'latin1')),
  p('E'),
];

/** Valid sessions (from test/integration/milter-protocol.test.ts), by name: the fuzz corpus. */
export const MILTER_SESSIONS: Readonly<Record<string, readonly Pkt[]>> = {
  full: [...HEAD, ...ENVELOPE, ...MESSAGE, p('Q')],
  negotiate: [OPTNEG],
  connect: HEAD,
  envelope: [...HEAD, ...ENVELOPE],
  abort: [...HEAD, ...ENVELOPE, p('L', cstr('Subject', ' x')), p('A'), ...ENVELOPE, ...MESSAGE],
  reuse: [...HEAD, ...ENVELOPE, ...MESSAGE, p('K'), ...HEAD.slice(1), ...ENVELOPE, p('E')],
  unix: [OPTNEG, p('C', Buffer.concat([cstr('localhost'), Buffer.from('L'), u32s(0).subarray(0, 2), cstr('/var/run/x')])), p('C', Buffer.concat([cstr('unknown'), Buffer.from('U')])), ...ENVELOPE, p('E')],
  ipv6: [OPTNEG, macro('C', { '{client_addr}': 'IPv6:2001:db8::1' }), p('C', Buffer.concat([cstr('[2001:db8::1]'), Buffer.from('6'), u32s(0).subarray(2), cstr('IPv6:2001:db8::1')])), p('H', cstr('[IPv6:2001:db8::1]')), ...ENVELOPE, ...MESSAGE],
  noheaders: [...HEAD, ...ENVELOPE, p('N'), p('E', Buffer.from('body in EOB\r\n'))],
  refused: [...HEAD, p('M', cstr('<>')), p('R', cstr('<postmaster@example.test>')), p('R', cstr('<nobody@elsewhere.example>')), ...MESSAGE],
};

const KNOWN = 'ABCDEHKLMNOQRTU';
const HUGE_LENGTHS = [0xffffffff, 0x80000000, 0x100000000 - 2, MAX_PACKET + 1, MAX_PACKET * 64];

const randomPacket = (rng: Rng): Pkt => {
  const all = Object.values(MILTER_SESSIONS).flat();
  return { ...rng.pick(all) };
};

type PacketMutator = (pkts: Pkt[], rng: Rng) => Pkt[];

const at = (pkts: Pkt[], rng: Rng): number => rng.int(pkts.length);
const edit = (pkts: Pkt[], rng: Rng, fn: (x: Pkt) => Pkt): Pkt[] => {
  if (pkts.length === 0) return pkts;
  const i = at(pkts, rng);
  const out = [...pkts];
  out[i] = fn(out[i] as Pkt);
  return out;
};
const insert = (pkts: Pkt[], rng: Rng, x: Pkt): Pkt[] => {
  const i = rng.int(pkts.length + 1);
  return [...pkts.slice(0, i), x, ...pkts.slice(i)];
};

const MUTATORS: readonly PacketMutator[] = [
  // a length too short (the rest of the packet is read as the next one's header)
  (pkts, rng) => edit(pkts, rng, (x) => ({ ...x, len: Math.max(1, x.data.length + 1 - 1 - rng.int(8)) })),
  // a length of zero
  (pkts, rng) => edit(pkts, rng, (x) => ({ ...x, len: 0 })),
  // a huge length (4 GB and others past the limit): closed at once, nothing allocated
  (pkts, rng) => edit(pkts, rng, (x) => ({ ...x, len: rng.pick(HUGE_LENGTHS) })),
  // a length a little long, on the last packet only (the listener rightly waits for the rest)
  (pkts, rng) => (pkts.length ? [...pkts.slice(0, -1), { ...(pkts.at(-1) as Pkt), len: (pkts.at(-1) as Pkt).data.length + 2 + rng.int(100) }] : pkts),
  // an unknown command byte
  (pkts, rng) => edit(pkts, rng, (x) => {
    let c = String.fromCharCode(rng.int(256));
    while (KNOWN.includes(c)) c = String.fromCharCode(rng.int(256));
    return { ...x, cmd: c };
  }),
  // strings cut short, without their NUL
  (pkts, rng) =>
    edit(pkts, rng, (x) => {
      const cut = x.data.subarray(0, rng.int(x.data.length + 1));
      return { ...x, data: cut.at(-1) === 0 ? cut.subarray(0, -1) : cut };
    }),
  // a missing argument: no data at all
  (pkts, rng) => edit(pkts, rng, (x) => ({ cmd: x.cmd, data: Buffer.alloc(0) })),
  // out of order: two packets swapped
  (pkts, rng) => {
    if (pkts.length < 2) return pkts;
    const out = [...pkts];
    const i = at(out, rng);
    const j = at(out, rng);
    [out[i], out[j]] = [out[j] as Pkt, out[i] as Pkt];
    return out;
  },
  // a packet dropped
  (pkts, rng) => {
    const drop = at(pkts, rng);
    return pkts.length > 1 ? pkts.filter((_, i) => i !== drop) : pkts;
  },
  // a packet repeated, or one from another session put anywhere
  (pkts, rng) => insert(pkts, rng, rng.int(2) && pkts.length ? { ...(pkts[at(pkts, rng)] as Pkt) } : randomPacket(rng)),
  // BODY / EOB / HEADER before MAIL (or before anything)
  (pkts, rng) => {
    const i = rng.int(Math.min(pkts.length, 3) + 1);
    return [...pkts.slice(0, i), rng.pick([p('B', Buffer.from('early body\r\n')), p('E'), p('L', cstr('X-Early', ' 1')), p('N'), p('R', cstr('<early@example.test>'))]), ...pkts.slice(i)];
  },
  // OPTNEG again, with odd versions, flags or sizes
  (pkts, rng) =>
    insert(pkts, rng, p('O', rng.pick([u32s(6, 0x1ff, 0x1fffff), u32s(0, 0, 0), u32s(1, 1, 1), u32s(2, 0xffffffff, 0xffffffff), u32s(0xffffffff, 0, 0), u32s(6, 0x1ff), u32s(6, 0x1ff, 0x1fffff, 7, 8), Buffer.alloc(0)]))),
  // oversized macros: many pairs, long values, no value, near the packet limit
  (pkts, rng) => {
    const kind = rng.int(4);
    const step = rng.pick(['C', 'H', 'M', 'R', 'T', 'L', 'N', 'B', 'E', '\0', '\xff']);
    const data =
      kind === 0
        ? Buffer.concat([Buffer.from(step, 'latin1'), cstr(...Array.from({ length: 5000 }, (_, k) => [`{m${k}}`, 'v'.repeat(20)]).flat())])
        : kind === 1
          ? Buffer.concat([Buffer.from(step, 'latin1'), cstr('{client_addr}', '1'.repeat(rng.pick([1000, 70_000, MAX_PACKET - 100])))])
          : kind === 2
            ? Buffer.concat([Buffer.from(step, 'latin1'), cstr('{auth_authen}')])
            : Buffer.concat([Buffer.from(step, 'latin1'), cstr('{client_addr}', '999.1.1.1', '{daemon_port}', '99999999999', '{tls_version}', 'TLSv1.3', 'i', 'Q'.repeat(5000))]);
    return insert(pkts, rng, p('D', data));
  },
  // a packet's data mutated as text (flipped bytes, odd bytes, huge numbers, over-long tokens)
  (pkts, rng) => edit(pkts, rng, (x) => ({ ...x, data: mutateLine(x.data, rng) })),
  // a session cut short
  (pkts, rng) => pkts.slice(0, 1 + rng.int(Math.max(1, pkts.length))),
];

function encodeAll(pkts: readonly Pkt[]): Buffer {
  return Buffer.concat(
    pkts.map((x) => {
      const whole = encode(x.cmd, x.data);
      if (x.len !== undefined) whole.writeUInt32BE(x.len >>> 0 === x.len ? x.len : 0xffffffff, 0);
      return whole;
    }),
  );
}

/** A mutated session: the named valid one with 1–3 packet mutations, encoded. */
export function mutateMilter(name: string, rng: Rng): Buffer {
  let pkts: Pkt[] = [...(MILTER_SESSIONS[name] ?? [])];
  const rounds = 1 + rng.int(3);
  for (let i = 0; i < rounds; i++) pkts = rng.pick(MUTATORS)(pkts, rng);
  return encodeAll(pkts);
}

/** Whether the listener, framing `sent` as it does, is left waiting for the rest of a packet. */
export function leavesPartial(sent: Buffer): boolean {
  let off = 0;
  while (off + 4 <= sent.length) {
    const len = sent.readUInt32BE(off);
    if (len === 0 || len > MAX_PACKET) return false; // closed there
    if (off + 4 + len > sent.length) return true;
    off += 4 + len;
  }
  return off < sent.length;
}

export interface Reply {
  cmd: string;
  data: Buffer;
}

/** The whole reply packets in `bytes` and what is left over. */
export function replyPackets(bytes: Buffer): { packets: Reply[]; rest: number } {
  const packets: Reply[] = [];
  let off = 0;
  while (off + 4 <= bytes.length) {
    const len = bytes.readUInt32BE(off);
    if (len === 0 || off + 4 + len > bytes.length) break;
    packets.push({ cmd: String.fromCharCode(bytes[off + 4] ?? 0), data: bytes.subarray(off + 5, off + 4 + len) });
    off += 4 + len;
  }
  return { packets, rest: bytes.length - off };
}

/** The probe: an OPTNEG whose answer (version 3, only ADDHDRS, no protocol flags) no corpus OPTNEG gets. */
const PROBE = encode('O', u32s(3, 0x01, 0));
const PROBE_REPLY = u32s(3, 0x01, 0);

const cstrOk = (d: Buffer, n: number): boolean => d.length > 0 && d[d.length - 1] === 0 && d.subarray(0, -1).toString('latin1').split('\0').length === n;

/** What is wrong with a reply packet, per the milter protocol v6 (the reply codes SMFIR_*), or undefined. */
export function badReply(r: Reply): string | undefined {
  const d = r.data;
  switch (r.cmd) {
    case 'c':
    case 'a':
    case 'd':
    case 'r':
    case 't':
    case 'p':
      return d.length === 0 ? undefined : `'${r.cmd}' with data`;
    case 'O':
      return d.length === 12 ? undefined : `OPTNEG reply of ${d.length} bytes`;
    case 'y': {
      // one line: a 4xx/5xx code, an enhanced code of its class, printable text, NUL-terminated
      const text = d.toString('latin1');
      return /^([45])\d\d \1\.\d{1,3}\.\d{1,3} [^\x00-\x1f\x7f]*\0$/.test(text) ? undefined : `bad reply code ${JSON.stringify(text.slice(0, 200))}`;
    }
    case 'h':
      return cstrOk(d, 2) && !/[\r\n]/.test(d.toString('latin1').split('\0')[0] ?? '') ? undefined : `bad ADDHEADER ${JSON.stringify(d.toString('latin1').slice(0, 200))}`;
    case 'i':
    case 'm':
      return d.length > 4 && cstrOk(d.subarray(4), 2) ? undefined : `bad '${r.cmd}' ${JSON.stringify(d.toString('latin1').slice(0, 200))}`;
    case '+':
    case '-':
    case 'e':
    case 'q':
      return cstrOk(d, 1) ? undefined : `bad '${r.cmd}' ${JSON.stringify(d.toString('latin1').slice(0, 200))}`;
    default:
      return `unknown reply command 0x${r.cmd.charCodeAt(0).toString(16)}`;
  }
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

export function milterTarget(port: number): FuzzTarget {
  return {
    name: 'milter',
    async open() {
      // a fresh connection's OPTNEG: the listener must still take a new session
      const c = await FuzzConn.open(port);
      c.write(encode('O', u32s(6, 0x1ff, 0x1fffff)));
      const r = await c.until((t) => replyPackets(latin1(t)).packets.some((x) => x.cmd === 'O'), 10_000);
      if (r !== 'done') throw new Error(`a fresh milter session is not negotiated: ${r}; got ${JSON.stringify(c.text.slice(-100))}`);
      return c;
    },
    mutate: (name, rng) => mutateMilter(name, rng),
    frame: (m) => m,
    probe: () => PROBE.toString('latin1'),
    probeDone: (t) => replyPackets(latin1(t)).packets.some((x) => x.cmd === 'O' && x.data.equals(PROBE_REPLY)),
    check(text) {
      const { packets, rest } = replyPackets(latin1(text));
      for (const r of packets) {
        const bad = badReply(r);
        if (bad) return bad;
      }
      return rest ? `${rest} bytes of an incomplete reply packet after the probe's answer` : undefined;
    },
    // the milter protocol has no way to say why: closing is its answer to a protocol error
    closedWithReason: () => true,
    mayWait: (sent) => leavesPartial(sent),
    waitMs: 150,
  };
}
