// Test helper: a raw ManageSieve client over a real socket (plain or after STARTTLS), reading whole responses
// (up to the final OK/NO/BYE line), for the RFC 5804 tests.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

const FINAL = /(?:^|\r\n)(?:OK|NO|BYE)(?: [^\r\n]*)?\r\n$/;
/** A final response whose text is a literal: complete once its octets and the line end are in. */
const FINAL_LITERAL = /(?:^|\r\n)(?:OK|NO|BYE)(?: \([^)]*\))? \{(\d+)\}\r\n/;

function complete(buf: string, done: RegExp): boolean {
  const lit = done === FINAL ? FINAL_LITERAL.exec(buf) : null;
  if (lit) return Buffer.byteLength(buf.slice((lit.index ?? 0) + lit[0].length)) >= Number(lit[1]) + 2;
  return done.test(buf);
}

export class SieveClient {
  private buf = '';
  private waiters: Array<() => void> = [];
  private constructor(private sock: Socket) {
    this.listen(sock);
  }

  static async open(port: number, t: { after(fn: () => void): void }, host = '127.0.0.1'): Promise<{ client: SieveClient; greeting: string }> {
    const sock = connect({ port, host });
    t.after(() => sock.destroy());
    const client = new SieveClient(sock);
    const greeting = await client.response();
    return { client, greeting };
  }

  private listen(sock: Socket): void {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      for (const w of this.waiters.splice(0)) w();
    });
    sock.on('close', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Waits until the buffer holds a complete response matching `done`; returns it and drops it. */
  async response(done: RegExp = FINAL): Promise<string> {
    for (let i = 0; !complete(this.buf, done); i++) {
      if (this.sock.destroyed || i > 400) throw new Error(`no complete response; got ${JSON.stringify(this.buf)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    const out = this.buf;
    this.buf = '';
    return out;
  }

  write(text: string): void {
    this.sock.write(text);
  }

  async cmd(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.response();
  }

  /** After an OK to STARTTLS: the TLS handshake on the same socket; resolves with the capabilities sent after it. */
  async startTls(ca: Buffer, servername: string): Promise<string> {
    this.sock.removeAllListeners('data');
    const secure: TLSSocket = tlsConnect({ socket: this.sock, ca, servername });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    this.sock = secure;
    this.buf = '';
    this.listen(secure);
    return this.response();
  }
}

export const plain = (user: string, password: string): string => Buffer.from(`\0${user}\0${password}`).toString('base64');
