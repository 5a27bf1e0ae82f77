// A scripted SMTP peer for client tests: greets (a line, or whatever `greeting` writes, e.g. late), then hands
// each CRLF-terminated command line to `answer`, which writes what the test wants on the socket (odd replies,
// injected text, a hang-up, a slow answer).
import net from 'node:net';

export interface ScriptedSmtp {
  port: number;
  /** Connections open now. */
  readonly open: number;
  close(): void;
}

export async function startScriptedSmtp(greeting: string | ((sock: net.Socket) => void), answer: (line: string, sock: net.Socket) => void): Promise<ScriptedSmtp> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    if (typeof greeting === 'string') sock.write(`${greeting}\r\n`);
    else greeting(sock);
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        answer(line, sock);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get open() {
      return sockets.size;
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
