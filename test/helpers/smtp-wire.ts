// A minimal line-level SMTP client for protocol tests: send raw lines, read whole (multi-line) replies.
import net, { type Socket } from 'node:net';
import tls from 'node:tls';

export interface Reply {
  code: number;
  lines: string[];
  /** Text of the last line after the code. */
  text: string;
}

export class SmtpWire {
  private buffer = '';
  private waiters: Array<() => void> = [];
  private closed = false;

  private constructor(private socket: Socket) {
    this.attach(socket);
  }

  private attach(socket: Socket): void {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buffer += d;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Connects without reading the greeting. */
  static connect(port: number, host = '127.0.0.1'): Promise<SmtpWire> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host, () => resolve(new SmtpWire(socket)));
      socket.once('error', reject);
    });
  }

  /** Connects and reads the greeting. */
  static async open(port: number, host = '127.0.0.1'): Promise<{ wire: SmtpWire; greeting: Reply }> {
    const wire = await SmtpWire.connect(port, host);
    return { wire, greeting: await wire.read() };
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  async command(line: string, timeoutMs = 5000): Promise<Reply> {
    this.write(line + '\r\n');
    return this.read(timeoutMs);
  }

  /** Reads one complete reply (up to the line "NNN text"). */
  async read(timeoutMs = 5000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.take();
      if (reply) return reply;
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buffer)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for reply; buffer: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private take(): Reply | undefined {
    const lines: string[] = [];
    let offset = 0;
    for (;;) {
      const end = this.buffer.indexOf('\r\n', offset);
      if (end === -1) return undefined;
      const line = this.buffer.slice(offset, end);
      lines.push(line);
      offset = end + 2;
      if (/^\d{3}(?: |$)/.test(line)) {
        this.buffer = this.buffer.slice(offset);
        return { code: Number(line.slice(0, 3)), lines, text: line.slice(4) };
      }
    }
  }

  /** Resolves when the server closes the connection. */
  async closedByServer(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.closed;
  }

  /** STARTTLS already accepted: wrap the socket in TLS (certificate not verified). */
  async upgrade(servername = 'localhost'): Promise<void> {
    const raw = this.socket;
    raw.removeAllListeners('data');
    const secure = tls.connect({ socket: raw, servername, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Sends one message over a fresh connection: EHLO, MAIL, RCPT..., DATA. Returns every reply. */
export async function sendMessage(port: number, from: string, rcpts: string[], body: string | Buffer, helo = 'client.test.example'): Promise<{ replies: Reply[]; data?: Reply }> {
  const { wire } = await SmtpWire.open(port);
  const replies: Reply[] = [];
  try {
    replies.push(await wire.command(`EHLO ${helo}`));
    replies.push(await wire.command(`MAIL FROM:<${from}>`));
    let accepted = 0;
    for (const r of rcpts) {
      const rep = await wire.command(`RCPT TO:<${r}>`);
      replies.push(rep);
      if (rep.code === 250) accepted++;
    }
    if (!accepted) return { replies };
    const go = await wire.command('DATA');
    replies.push(go);
    if (go.code !== 354) return { replies };
    wire.write(body);
    const data = await wire.command('.', 10_000);
    replies.push(data);
    await wire.command('QUIT').catch(() => undefined);
    return { replies, data };
  } finally {
    wire.close();
  }
}
