// A small milter client for protocol tests, playing the MTA: it encodes commands itself (not with spamgate's
// code), reads reply packets, and knows which replies end a step.
//
//   const m = await MilterClient.connect(port);
//   await m.negotiate();                         // SMFIC_OPTNEG, returns { version, actions, protocol }
//   await m.step('C', connectData('mx.remote.example', '203.0.113.5', 4321));  // → [{ cmd: 'c', ... }]
//   m.macro('M', { '{auth_authen}': 'alice' });  // no reply
//   const eob = await m.step('E');               // header changes, then the final reply
import net, { type Socket } from 'node:net';

export interface MilterReply {
  cmd: string;
  data: Buffer;
}

/** Replies that end a step (the others — header changes, progress, quarantine — come before one of these). */
const FINAL = new Set(['c', 'a', 'r', 't', 'y', 'd', 's', 'O']);

export function encode(cmd: string, data: Buffer = Buffer.alloc(0)): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length + 1);
  return Buffer.concat([len, Buffer.from(cmd, 'latin1'), data]);
}

export const cstr = (...parts: string[]): Buffer => Buffer.from(parts.map((p) => `${p}\0`).join(''), 'latin1');

/** SMFIC_CONNECT data for an IPv4 client. */
export function connectData(hostname: string, address: string, port: number): Buffer {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(port);
  return Buffer.concat([cstr(hostname), Buffer.from('4'), p, cstr(address)]);
}

/** A reply's NUL-separated strings (after a 4-byte index for 'i' and 'm'). */
export function replyStrings(r: MilterReply): string[] {
  const data = r.cmd === 'i' || r.cmd === 'm' ? r.data.subarray(4) : r.data;
  return data.toString('latin1').split('\0').slice(0, -1);
}

export class MilterClient {
  private buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;
  readonly closedPromise: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      this.wake();
    });
    this.closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      }),
    );
    socket.on('error', () => undefined);
  }

  /** A port on 127.0.0.1, or a unix socket's path. */
  static connect(where: number | string): Promise<MilterClient> {
    return new Promise((resolve, reject) => {
      const s = typeof where === 'number' ? net.connect(where, '127.0.0.1', () => resolve(new MilterClient(s))) : net.connect(where, () => resolve(new MilterClient(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(cmd: string, data?: Buffer): void {
    this.socket.write(encode(cmd, data));
  }

  raw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next reply packet; undefined when the connection closed first. */
  async read(timeoutMs = 10_000): Promise<MilterReply | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buffer.length >= 4) {
        const len = this.buffer.readUInt32BE(0);
        if (this.buffer.length >= 4 + len) {
          const reply = { cmd: String.fromCharCode(this.buffer[4] ?? 0), data: Buffer.from(this.buffer.subarray(5, 4 + len)) };
          this.buffer = this.buffer.subarray(4 + len);
          return reply;
        }
      }
      if (this.closed) return undefined;
      if (Date.now() > deadline) throw new Error('no milter reply in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends a command and reads its replies up to the final one (all of them, in order). */
  async step(cmd: string, data?: Buffer): Promise<MilterReply[]> {
    this.send(cmd, data);
    const out: MilterReply[] = [];
    for (;;) {
      const r = await this.read();
      if (!r) throw new Error(`connection closed after ${cmd} (replies so far: ${out.map((x) => x.cmd).join(',')})`);
      out.push(r);
      if (FINAL.has(r.cmd)) return out;
    }
  }

  async negotiate(actions = 0x1ff, protocol = 0x1fffff, version = 6): Promise<{ version: number; actions: number; protocol: number }> {
    const d = Buffer.alloc(12);
    d.writeUInt32BE(version, 0);
    d.writeUInt32BE(actions, 4);
    d.writeUInt32BE(protocol, 8);
    const [r] = await this.step('O', d);
    if (!r || r.cmd !== 'O') throw new Error(`expected an option negotiation reply, got ${r?.cmd}`);
    return { version: r.data.readUInt32BE(0), actions: r.data.readUInt32BE(4), protocol: r.data.readUInt32BE(8) };
  }

  macro(stage: string, macros: Record<string, string>): void {
    this.send('D', Buffer.concat([Buffer.from(stage), cstr(...Object.entries(macros).flat())]));
  }

  /** Headers (values as written after the colon, with HDR_LEADSPC), EOH, the body in one chunk, then EOB's replies. */
  async message(headers: [string, string][], body: string): Promise<MilterReply[]> {
    for (const [name, value] of headers) await this.step('L', cstr(name, value));
    await this.step('N');
    await this.step('B', Buffer.from(body, 'latin1'));
    return this.step('E');
  }

  close(): void {
    this.socket.destroy();
  }
}
