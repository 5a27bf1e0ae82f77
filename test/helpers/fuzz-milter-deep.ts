// Stateful milter fuzzing, playing a confused MTA: seeded random walks over the protocol's commands (macros of
// any step and size up to the packet limit, CONNECT, HELO, MAIL, RCPT, DATA, headers, end of headers, body chunks,
// end of body, abort, QUIT_NC and a new client, OPTNEG again with odd versions and flags, UNKNOWN) in any order and
// for many messages on one connection, each packet written whole, byte by byte or in random pieces, some walks
// ending in a length that lies or a connection cut mid-packet. The client keeps a model of what the listener may
// do: each command that wants an answer gets one well-formed final reply; the connection is closed only where
// the protocol calls for it (no negotiation, MAIL or RCPT before CONNECT, a bad length). Bounded in walks and time.
import type { Socket } from 'node:net';
import { catchUncaught, connectLocal, PeerConn } from './fuzz-drive.ts';
import type { Rng } from './fuzz-mutate.ts';
import { badReply, replyPackets } from './fuzz-milter.ts';
import { connectData, cstr, encode } from './milter-client.ts';

/** The listener's packet limit (src/milter/server.ts MAX_PACKET). */
const MAX_PACKET = 1024 * 1024;
/** Replies that end a step (others — header changes, progress, quarantine — come before one of these). */
const FINAL = new Set(['c', 'a', 'r', 't', 'y', 'd', 'O']);

type Split = 'whole' | 'bytes' | 'random';

class Conn extends PeerConn {
  bytes = Buffer.alloc(0);
  private constructor(sock: Socket) {
    super(sock);
    sock.on('data', (d: Buffer) => {
      this.bytes = Buffer.concat([this.bytes, d]);
      this.wake?.();
    });
  }

  static async open(port: number): Promise<Conn> {
    return new Conn(await connectLocal(port, true));
  }

  async send(data: Buffer, split: Split, rng: Rng): Promise<void> {
    if (split === 'whole' || data.length <= 1) {
      if (!this.closed) this.sock.write(data);
      return;
    }
    let at = 0;
    while (at < data.length && !this.closed) {
      const n = split === 'bytes' ? (at < 300 ? 1 : data.length - at) : 1 + rng.int(split === 'random' && data.length > 4096 ? 65_536 : 13);
      this.sock.write(data.subarray(at, at + n));
      at += n;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

const u32s = (...n: number[]): Buffer => {
  const out = Buffer.alloc(4 * n.length);
  n.forEach((v, i) => out.writeUInt32BE(v >>> 0, 4 * i));
  return out;
};

interface Packet {
  cmd: string;
  data: Buffer;
  /** What the listener may do, by the client's model: answer (one final reply), nothing, or close. */
  want: 'reply' | 'none' | 'close';
}

/** The model: negotiated, a client connected (CONNECT taken, not yet QUIT_NC). */
interface Model {
  negotiated: boolean;
  connected: boolean;
}

const HEADER_NAMES = ['From', 'To', 'Subject', 'Message-ID', 'Date', 'Received', 'X-Fuzz', 'DKIM-Signature', 'Content-Type', 'subject', ''];
const STEPS = ['C', 'H', 'M', 'R', 'T', 'L', 'N', 'B', 'E', 'U', '\0', '\xff'];

function optneg(rng: Rng, m: Model): Packet {
  const version = rng.pick([6, 6, 6, 2, 3, 4, 5, 7, 0xffffffff, 1, 0]);
  const actions = rng.pick([0x1ff, 0, 0xffffffff, 0x01, 0x20, rng.int(2 ** 32)]);
  const proto = rng.pick([0x1fffff, 0, 0xffffffff, 0x100000, rng.int(2 ** 32)]);
  const data = rng.int(8) === 0 ? u32s(version, actions).subarray(0, rng.int(9)) : rng.int(8) === 0 ? Buffer.concat([u32s(version, actions, proto), Buffer.alloc(rng.int(20), 7)]) : u32s(version, actions, proto);
  const ok = data.length >= 12 && version >= 2;
  if (ok) m.negotiated = true;
  return { cmd: 'O', data, want: ok ? 'reply' : 'close' };
}

function macro(rng: Rng): Packet {
  const step = rng.pick(STEPS);
  const kind = rng.int(5);
  const pairs: string[] =
    kind === 0
      ? ['i', `Q${rng.int(1e6)}`, '{auth_authen}', rng.pick(['alice', '', 'x'.repeat(300)]), '{client_addr}', rng.pick(['203.0.113.9', 'IPv6:2001:db8::2', '999.1.1.1', ''])]
      : kind === 1
        ? Array.from({ length: rng.pick([150, 2000]) }, (_, k) => [`{m${k}}`, 'v'.repeat(rng.int(40))]).flat()
        : kind === 2
          ? ['{tls_version}', 'TLSv1.3', '{daemon_port}', rng.pick(['0', '-1', '99999999999', 'x'])]
          : kind === 3
            ? [rng.pick(['{big}', 'x'.repeat(rng.pick([1000, 300_000]))]), 'y'.repeat(rng.pick([10, 70_000, MAX_PACKET - 500_000]))]
            : ['{odd}'];
  return { cmd: 'D', data: Buffer.concat([Buffer.from(step, 'latin1'), cstr(...pairs)]), want: 'none' };
}

/** One packet of the walk, and the model's update. */
function nextPacket(rng: Rng, m: Model): Packet {
  // an MTA mostly says CONNECT first: MAIL or RCPT before it (closed) stays a rare deviation, so walks go deep
  const r = m.negotiated && !m.connected && rng.int(4) !== 0 ? 15 + rng.int(7) : rng.int(100);
  if (r < 3) return optneg(rng, m);
  if (r < 15) return macro(rng);
  if (r < 22) {
    m.connected = true;
    const data = rng.pick([
      connectData(rng.pick(['mail.remote.example', 'unknown', '[203.0.113.5]', 'x'.repeat(400)]), rng.pick(['203.0.113.5', '127.0.0.1', '192.0.2.1']), rng.int(65_536)),
      Buffer.concat([cstr('[2001:db8::1]'), Buffer.from('6'), u32s(0).subarray(2), cstr('IPv6:2001:db8::1')]),
      Buffer.concat([cstr('localhost'), Buffer.from('L'), u32s(0).subarray(2), cstr('/var/run/x')]),
      Buffer.concat([cstr('unknown'), Buffer.from('U')]),
    ]);
    return { cmd: 'C', data, want: 'reply' };
  }
  if (r < 27) return { cmd: 'H', data: cstr(rng.pick(['mail.remote.example', '', 'x'.repeat(1000)])), want: 'reply' };
  if (r < 37) return { cmd: 'M', data: cstr(rng.pick(['<sender@remote.example>', '<>', 'bare@remote.example', '<alice@example.test>']), ...rng.pick([[], ['SIZE=100'], ['SIZE=99999999999999'], ['BODY=8BITMIME', 'SMTPUTF8'], ['FOO=bar']])), want: m.connected ? 'reply' : 'close' };
  if (r < 47) return { cmd: 'R', data: cstr(rng.pick(['<user@example.test>', '<postmaster@example.test>', '<nobody@elsewhere.example>', '<prvs=1234abcdef=bob@example.test>', '<>', `<prvs=1000000000=user@example.test>${' '.repeat(rng.pick([3, 300_000]))}`])), want: m.connected ? 'reply' : 'close' };
  if (r < 50) return { cmd: 'T', data: Buffer.alloc(0), want: 'reply' };
  if (r < 63) {
    const value = rng.pick([' hello', ' folded\n\tline', '', ' TAG-MARKER', ' ' + 'v'.repeat(rng.pick([100, 5000, 200_000]))]);
    return { cmd: 'L', data: rng.int(10) === 0 ? cstr(rng.pick(HEADER_NAMES)) : cstr(rng.pick(HEADER_NAMES), value), want: 'reply' };
  }
  if (r < 67) return { cmd: 'N', data: Buffer.alloc(0), want: 'reply' };
  if (r < 79) return { cmd: 'B', data: Buffer.from(rng.pick(['Hello.\r\n', 'TAG-MARKER\r\n', 'REJECT-MARKER\r\n', 'HOLD-MARKER\r\n', 'DEFER-MARKER\r\n', '\0\xff bytes\r\n', 'b'.repeat(65_535)]), 'latin1'), want: 'reply' };
  if (r < 88) return { cmd: 'E', data: rng.int(3) === 0 ? Buffer.from('tail\r\n') : Buffer.alloc(0), want: 'reply' };
  if (r < 93) return { cmd: 'A', data: Buffer.alloc(0), want: 'none' };
  if (r < 96) {
    m.connected = false;
    return { cmd: 'K', data: Buffer.alloc(0), want: 'none' };
  }
  return { cmd: 'U', data: cstr(rng.pick(['XFOO bar', '', 'x'.repeat(3000)])), want: 'reply' };
}

export interface MilterFinding {
  walk: number;
  step: number;
  split: Split;
  detail: string;
  /** The walk so far, as command letters. */
  trail: string;
}

export interface MilterRun {
  seed: number;
  walks: number;
  packets: number;
  /** Walks ended by a close the model allows (a bad OPTNEG, MAIL or RCPT before CONNECT, a lying length). */
  closedAsAllowed: number;
  findings: MilterFinding[];
}

export interface MilterFuzzOptions {
  port: number;
  seed: number;
  walks: number;
  /** Packets per walk, at most. */
  maxSteps: number;
  budgetMs: number;
  replyMs: number;
}

/**
 * Runs the walks; after each, a fresh connection must negotiate (the listener is up). What the listener logs is
 * the caller's to judge (an "unexpected error" line is a handler that threw).
 */
export async function milterDeepFuzz(rng: Rng, opts: MilterFuzzOptions): Promise<MilterRun> {
  const run: MilterRun = { seed: opts.seed, walks: 0, packets: 0, closedAsAllowed: 0, findings: [] };
  const uncaught = catchUncaught();
  const deadline = Date.now() + opts.budgetMs;
  try {
    for (let w = 0; w < opts.walks && Date.now() < deadline; w++) {
      run.walks++;
      const split = rng.pick<Split>(['whole', 'whole', 'bytes', 'random']);
      const c = await Conn.open(opts.port);
      const model: Model = { negotiated: false, connected: false };
      const trail: string[] = [];
      const found = (step: number, detail: string): void => void run.findings.push({ walk: w, step, split, detail, trail: trail.join('') });
      try {
        const steps = 1 + rng.int(opts.maxSteps);
        let ended = false;
        for (let s = 0; s < steps && !ended; s++) {
          const before = model.negotiated;
          const p: Packet = s === 0 && rng.int(10) !== 0 ? optneg(rng, model) : nextPacket(rng, model);
          // anything but OPTNEG before a negotiation is a protocol error: closed
          if (!before && p.cmd !== 'O') p.want = 'close';
          trail.push(p.cmd === '\0' ? '0' : p.cmd);
          run.packets++;
          const seen = c.bytes.length;
          await c.send(encode(p.cmd, p.data), split, rng);
          if (p.want === 'none') continue;
          const r = await c.waitFor(() => replyPackets(c.bytes.subarray(seen)).packets.some((x) => FINAL.has(x.cmd)), opts.replyMs);
          const got = replyPackets(c.bytes.subarray(seen));
          for (const x of got.packets) {
            const bad = badReply(x);
            if (bad) found(s, `reply to '${p.cmd}': ${bad}`);
            // a recipient change names one address: never a packet's worth of what the MTA sent
            if ((x.cmd === '-' || x.cmd === '+') && x.data.length > 1024) found(s, `'${x.cmd}' of ${x.data.length} bytes`);
          }
          const finals = got.packets.filter((x) => FINAL.has(x.cmd));
          if (r === 'done' && p.want === 'reply' && finals.length !== 1) found(s, `${finals.length} final replies to '${p.cmd}'`);
          if (r === 'done' && p.cmd === 'O' && finals[0]?.cmd !== 'O') found(s, `OPTNEG answered '${finals[0]?.cmd}'`);
          if (r === 'closed') {
            if (p.want === 'close') run.closedAsAllowed++;
            else found(s, `connection closed after '${p.cmd}' (${p.data.length} bytes), which wants a reply`);
            ended = true;
          } else if (r === 'timeout') {
            found(s, `no reply to '${p.cmd}' (${p.data.length} bytes) within the bound`);
            ended = true;
          } else if (p.want === 'close') found(s, `'${p.cmd}' answered where the connection should close`);
        }
        if (!ended && !c.closed) {
          // the walk's end: QUIT, a length that lies (zero, past the limit: closed at once), or a cut mid-packet
          const end = rng.int(4);
          if (end === 0) await c.send(encode('Q'), split, rng);
          else if (end === 1) {
            await c.send(u32s(rng.pick([0, MAX_PACKET + 1, 0xffffffff])), split, rng);
            const r = await c.waitFor(() => false, opts.replyMs);
            if (r === 'closed') run.closedAsAllowed++;
            else found(steps, `a length of zero or past the limit did not close the connection: ${r}`);
          } else if (end === 2) await c.send(encode('B', Buffer.alloc(5000, 0x62)).subarray(0, 1 + rng.int(4000)), split, rng);
        }
      } finally {
        c.destroy();
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (uncaught.errors.length) found(-1, `uncaught: ${uncaught.errors.splice(0).join('\n---\n').slice(0, 2000)}`);
    }
    // the listener is up: a fresh connection negotiates
    const c = await Conn.open(opts.port);
    await c.send(encode('O', u32s(6, 0x1ff, 0x1fffff)), 'whole', rng);
    const r = await c.waitFor(() => replyPackets(c.bytes).packets.some((x) => x.cmd === 'O'), opts.replyMs);
    c.destroy();
    if (r !== 'done') run.findings.push({ walk: -1, step: 0, split: 'whole', detail: `a fresh connection is not negotiated: ${r}`, trail: 'O' });
  } finally {
    uncaught.stop();
  }
  return run;
}

export function describeMilterRun(r: MilterRun): string {
  const head = `fuzz milter walks: seed ${r.seed} (FUZZ_SEED to change), ${r.walks} walks, ${r.packets} packets, ${r.closedAsAllowed} closed as the protocol allows, ${r.findings.length} findings`;
  return [head, ...r.findings.slice(0, 30).map((f) => `  walk ${f.walk} step ${f.step} [${f.split}] trail ${JSON.stringify(f.trail)}: ${f.detail}`)].join('\n');
}
