// A scripted SMTP peer for client tests: sends `greeting`, then hands each CRLF-terminated command line to
// `answer`, which writes what the test wants on the socket (odd replies, injected text, a hang-up).
import net from 'node:net';

export interface ScriptedSmtp {
  port: number;
  close(): void;
}

export async function startScriptedSmtp(greeting: string, answer: (line: string, sock: net.Socket) => void): Promise<ScriptedSmtp> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
    sock.write(`${greeting}\r\n`);
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
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
