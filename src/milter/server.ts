// The milter listener: accepts MTA connections (TCP or a unix socket), bounded in number, each with an idle
// timeout; frames packets, runs them one at a time through a MilterSession and writes its replies. A malformed
// packet, an oversize length or an unknown command closes that connection only.
import type { AddressInfo, Socket } from 'node:net';
import type { MilterConfig } from '../config/sections/milter.ts';
import type { GatewayDeps } from '../smtp/gateway-types.ts';
import { SocketService } from '../util/socket-listener.ts';
import { PacketError, PacketReader, type MilterPacket } from './packet-reader.ts';
import { MilterSession } from './session.ts';

/** The longest packet taken: a body chunk is at most 64 KiB; a header field (Postfix: header_size_limit) less than this. */
export const MAX_PACKET = 1024 * 1024;

/** An MTA sends its option negotiation as soon as it connects: a connection silent longer is no MTA. */
export const NEGOTIATION_TIMEOUT = 10_000;

export interface MilterServerOptions {
  deps: GatewayDeps;
  config: () => MilterConfig;
}

export class MilterServer extends SocketService {
  /** Warnings already logged once (warnOnce keys). */
  private readonly warned = new Set<string>();

  constructor(private readonly opts: MilterServerOptions) {
    super({}, (err) => opts.deps.log.error('milter listener error', { err }));
  }

  /** Listens on milter.listen; the address (for a unix socket: its path, port 0). */
  listen(): Promise<AddressInfo> {
    return this.bindTo(this.opts.config().listen, 'milter.listen');
  }

  protected accept(socket: Socket): void {
    const { deps } = this.opts;
    const config = this.opts.config();
    if (this.sockets.size >= config.max_connections) {
      deps.metrics.connections.inc({ listener: 'milter', result: 'too_many' });
      deps.log.warn('milter connection refused: too many connections', { max: config.max_connections });
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    const reader = new PacketReader(MAX_PACKET);
    const warnOnce = (key: string, message: string): void => {
      if (this.warned.has(key)) return;
      this.warned.add(key);
      deps.log.warn(message);
    };
    const session = new MilterSession({ deps, config: this.opts.config, write: (b) => void (socket.writable && socket.write(b)), warnOnce });
    let queue: MilterPacket[] = [];
    let busy = false;
    let closed = false;
    const end = (why: string, level: 'debug' | 'warn'): void => {
      if (closed) return;
      closed = true;
      deps.log[level]('milter connection closed', { reason: why, peer: socket.remoteAddress ?? 'unix' });
      socket.end();
      socket.destroySoon();
    };
    const run = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      // the MTA waits for each reply, so few packets queue; those that do are run in order
      while (queue.length && !closed) {
        const p = queue.shift() as MilterPacket;
        const step = await session.handle(p);
        if (!negotiated && 'send' in step) {
          negotiated = true;
          socket.setTimeout(config.timeout);
        }
        if ('close' in step) end(step.close, step.close === 'quit' ? 'debug' : 'warn');
        else for (const b of step.send) if (socket.writable) socket.write(b);
      }
      busy = false;
      socket.resume();
    };
    let negotiated = false;
    socket.setTimeout(Math.min(config.timeout, NEGOTIATION_TIMEOUT), () => end(negotiated ? 'idle timeout' : 'no option negotiation', 'warn'));
    socket.on('data', (bytes: Buffer) => {
      if (closed) return;
      try {
        queue.push(...reader.push(bytes));
      } catch (err) {
        if (!(err instanceof PacketError)) throw err;
        queue = [];
        end(`protocol error: ${err.message}`, 'warn');
        return;
      }
      // an MTA waits for each reply; one that does not is read no further while a step runs (bounded memory)
      if (busy) socket.pause();
      run().catch((err: unknown) => {
        deps.log.error('unexpected error in milter connection', { err });
        end('internal error', 'warn');
      });
    });
    socket.on('error', (err) => deps.log.debug('milter socket error', { err }));
    socket.on('close', () => {
      closed = true;
      this.sockets.delete(socket);
      session.close();
    });
  }
}
