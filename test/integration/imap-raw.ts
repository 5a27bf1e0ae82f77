// A raw IMAP connection for integration tests: writes bytes, waits for what the server sends (event-driven, no sleeps).
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { Harness } from './imap-harness.ts';

const USER = 'alice@example.org';
const PASS = 'wonderland';

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A raw IMAP connection: writes bytes, waits for what the server sends (event-driven, no sleeps). */
export class Raw {
  private text = '';
  private closed = false;
  private wake: (() => void) | undefined;
  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      this.wake?.();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    sock.on('error', () => undefined);
  }

  static async open<H extends Pick<Harness, 'port'>>(h: H, t: { after(fn: () => void): void }): Promise<Raw> {
    const sock = connect(h.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const raw = new Raw(sock);
    t.after(() => sock.destroy());
    await raw.until((s) => s.includes('\r\n'));
    raw.text = '';
    return raw;
  }

  /** Hands the socket over (to STARTTLS); this reader stops listening. */
  detach(): Socket {
    this.sock.removeAllListeners('data');
    return this.sock;
  }

  static wrap(sock: Socket): Raw {
    return new Raw(sock);
  }

  write(data: string | Buffer): void {
    this.sock.write(data);
  }

  /** Waits until `done` holds for the text received so far; fails if the server hangs up first. */
  async until(done: (text: string) => boolean): Promise<string> {
    for (let i = 0; i < 1_000_000 && !done(this.text); i++) {
      if (this.closed) throw new Error(`connection closed; received: ${this.text.slice(-500)}`);
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    return this.text;
  }

  /** Sends raw bytes and returns everything up to the tagged completion of `tag` (then forgets it). */
  async send(tag: string, data: string | Buffer): Promise<string> {
    const done = new RegExp(`(^|\\r\\n)${escape(tag)} (OK|NO|BAD)[^\\r]*\\r\\n`);
    this.write(data);
    const text = await this.until((s) => done.test(s));
    const m = done.exec(text);
    const end = (m?.index ?? 0) + (m?.[0].length ?? 0);
    this.text = text.slice(end);
    return text.slice(0, end);
  }

  cmd(tag: string, line: string): Promise<string> {
    return this.send(tag, `${tag} ${line}\r\n`);
  }
}

/** A session logged in as `user` (alice by default). */
export async function loggedIn<H extends Pick<Harness, 'port'>>(h: H, t: { after(fn: () => void): void }, user = USER, pass = PASS): Promise<Raw> {
  const c = await Raw.open(h, t);
  assert.match(await c.cmd('L', `LOGIN ${user} ${pass}`), /^L OK/m);
  return c;
}
