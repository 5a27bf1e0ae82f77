// One exchange with clamd over a connection of its own (TCP or unix socket): send a z-prefixed command and its
// payload, read the reply up to its NUL. Bounded: an AbortSignal ends it (the caller's timeout), the reply is cut
// at MAX_REPLY bytes. Never throws: a refused connection, a reset, a garbled or missing reply is an error result.
import net, { type Socket } from 'node:net';
import { formatClamdAddress, INSTREAM_COMMAND, instreamFrames, parseScanReply, PING_COMMAND, type ClamdAddress, type ScanReply } from './clamd-protocol.ts';

/** A reply longer than this is not clamd's (a virus name is short): the exchange fails. */
export const MAX_REPLY = 4096;

export type ExchangeResult = { ok: true; reply: string } | { ok: false; error: string };

/** Sends command then payload (written with back-pressure), and reads the NUL-terminated reply. */
export function clamdExchange(address: ClamdAddress, command: Buffer, payload: Iterable<Buffer>, signal: AbortSignal): Promise<ExchangeResult> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve({ ok: false, error: 'timed out before connecting' });
    let phase: 'connecting' | 'sending' | 'reading' = 'connecting';
    let settled = false;
    let received = Buffer.alloc(0);
    const socket: Socket = address.kind === 'unix' ? net.connect({ path: address.path }) : net.connect({ host: address.host, port: address.port });
    const finish = (result: ExchangeResult): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    const onAbort = (): void => finish({ ok: false, error: `timed out while ${phase} (${formatClamdAddress(address)})` });
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const nul = received.indexOf(0);
      if (nul !== -1) return finish({ ok: true, reply: received.subarray(0, nul).toString('latin1') });
      if (received.length > MAX_REPLY) finish({ ok: false, error: `reply longer than ${MAX_REPLY} bytes` });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // clamd answers a stream over its StreamMaxLength at once and closes: our next write fails before its reply
      // is read, when the reply did not arrive between two frames (send() looks for it before each)
      const closedEarly = phase === 'sending' && (err.code === 'EPIPE' || err.code === 'ECONNRESET');
      const why = closedEarly ? `clamd closed the connection while the message was sent (${err.code}; over its StreamMaxLength?)` : `${err.code ?? err.message} while ${phase}`;
      finish({ ok: false, error: `${why} (${formatClamdAddress(address)})` });
    });
    socket.on('end', () => {
      // a reply without its NUL, then the end: what there is, when it is a whole line
      const text = received.toString('latin1').trim();
      finish(text ? { ok: true, reply: text } : { ok: false, error: `connection closed without a reply while ${phase}` });
    });
    socket.once('connect', () => {
      phase = 'sending';
      void send();
    });
    // one frame at a time, each written before the next is made (the message is never copied whole), giving clamd's
    // reply its turn between frames: a reply before the end (an ERROR) stops the sending
    const written = (frame: Buffer): Promise<void> => new Promise<void>((r) => socket.write(frame, () => r()));
    const send = async (): Promise<void> => {
      await written(command);
      for (const frame of payload) {
        if (settled || received.length > 0) return;
        await written(frame);
      }
      if (!settled) phase = 'reading';
    };
  });
}

/** Scans a message with INSTREAM. */
export async function clamdScan(address: ClamdAddress, message: Buffer, signal: AbortSignal): Promise<ScanReply> {
  const r = await clamdExchange(address, INSTREAM_COMMAND, instreamFrames(message), signal);
  return r.ok ? parseScanReply(r.reply) : { status: 'error', message: r.error };
}

/** PING → PONG: clamd answers. */
export async function clamdPing(address: ClamdAddress, signal: AbortSignal): Promise<{ ok: true } | { ok: false; error: string }> {
  const r = await clamdExchange(address, PING_COMMAND, [], signal);
  if (!r.ok) return r;
  return r.reply.trim() === 'PONG' ? { ok: true } : { ok: false, error: `unexpected reply to PING: ${JSON.stringify(r.reply.slice(0, 100))}` };
}
