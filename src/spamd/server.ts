// The spamd listener (TCP or a unix socket): clients outside spamd.allowed_networks are closed at connect (as
// spamd -A does), at most spamd.max_connections at once, the whole request within spamd.timeout of the connection
// and the answer taken with no silence that long; one request per connection, answered and closed
// (spamd/PROTOCOL: "After each side is done writing, it shuts down its side of the connection"). A malformed
// request gets the protocol's error line and the connection closes; nothing a client sends can stop the process.
import type { AddressInfo, Socket } from 'node:net';
import type { Learner } from '../bayes/learner.ts';
import type { SpamdConfig } from '../config/sections/spamd.ts';
import type { Registry } from '../metrics/registry.ts';
import type { GatewayDeps } from '../smtp/gateway-types.ts';
import { CidrSet } from '../util/cidr.ts';
import { SocketService } from '../util/socket-listener.ts';
import { createSpamdMetrics, type SpamdMetrics } from './metrics.ts';
import { errorLine, EX, type ErrorReply } from './protocol.ts';
import { RequestReader } from './request-reader.ts';
import { answer } from './respond.ts';

export interface SpamdServerOptions {
  deps: GatewayDeps;
  config: () => SpamdConfig;
  registry: Registry;
  /** What TELL teaches (Bayes with the fuzzy store and reputation); absent when nothing learns. */
  learner?: Learner;
}

export class SpamdServer extends SocketService {
  private readonly metrics: SpamdMetrics;
  private allowed: { list: readonly string[]; set: CidrSet } | undefined;

  constructor(private readonly opts: SpamdServerOptions) {
    // the client may shut down its side once the request is sent (spamc does): the answer still goes out
    super({ allowHalfOpen: true }, (err) => opts.deps.log.error('spamd listener error', { err }));
    this.metrics = createSpamdMetrics(opts.registry);
  }

  listen(): Promise<AddressInfo> {
    return this.bindTo(this.opts.config().listen, 'spamd.listen');
  }

  private allowedSet(config: SpamdConfig): CidrSet {
    if (this.allowed?.list !== config.allowed_networks) this.allowed = { list: config.allowed_networks, set: new CidrSet(config.allowed_networks) };
    return this.allowed.set;
  }

  protected accept(socket: Socket): void {
    const { deps } = this.opts;
    const config = this.opts.config();
    const peer = socket.remoteAddress;
    // a unix socket has no address: who may connect is the socket file's permission
    if (peer !== undefined && !this.allowedSet(config).has(peer)) {
      this.metrics.connection('not_allowed');
      deps.log.warn('spamd connection refused: not in spamd.allowed_networks', { peer });
      socket.destroy();
      return;
    }
    if (this.sockets.size >= config.max_connections) {
      this.metrics.connection('too_many');
      deps.log.warn('spamd connection refused: too many connections', { max: config.max_connections });
      socket.on('error', () => undefined);
      socket.end(errorLine({ code: EX.TEMPFAIL, text: 'Service Unavailable: too many connections, try again later' }));
      socket.destroySoon();
      return;
    }
    this.metrics.connection('accepted');
    this.sockets.add(socket);
    const reader = new RequestReader(config.max_size);
    let done = false;
    let command: string | undefined;
    const finish = (bytes: Buffer | undefined, why: string, level: 'debug' | 'warn'): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      // the answer too must be taken within spamd.timeout: a client that stops reading would hold its slot for ever
      socket.setTimeout(config.timeout, () => socket.destroy());
      deps.log[level]('spamd connection closed', { reason: why, peer: peer ?? 'unix' });
      if (bytes && socket.writable) socket.end(bytes);
      else socket.end();
      socket.destroySoon();
    };
    const fail = (e: ErrorReply, result: 'error' | 'too_large' | 'timeout'): void => {
      this.metrics.request(command ?? reader.verb, result);
      finish(errorLine(e), e.text, 'warn');
    };
    // the whole request must arrive within spamd.timeout of the connection, not merely with no silence that long: a
    // client trickling a byte at a time would otherwise hold its slot for as long as it liked
    const deadline = setTimeout(() => fail({ code: EX.TIMEOUT, text: `Timeout: no complete request within ${config.timeout} ms` }, 'timeout'), config.timeout);
    const onProgress = (p: ReturnType<RequestReader['push']>): void => {
      if (done || p.kind === 'more') return;
      if (p.kind === 'error') {
        fail(p.error, p.error.code === EX.DATAERR && p.error.text.startsWith('Message too big') ? 'too_large' : 'error');
        return;
      }
      command = p.request.command;
      // the request is read: the scan has no deadline here (its checks have their own budgets)
      clearTimeout(deadline);
      socket.pause();
      answer(p.request, { ...this.opts, config, peer: peer ?? 'unix', metrics: this.metrics })
        .then((out) => finish(out.bytes, out.why, 'debug'))
        .catch((err: unknown) => {
          deps.log.error('unexpected error in spamd request', { err });
          fail({ code: EX.SOFTWARE, text: 'Internal software error' }, 'error');
        });
    };
    socket.on('data', (bytes: Buffer) => {
      if (done) return;
      onProgress(reader.push(bytes));
    });
    socket.on('end', () => {
      if (!done) onProgress(reader.end());
    });
    socket.on('error', (err) => deps.log.debug('spamd socket error', { err }));
    socket.on('close', () => {
      clearTimeout(deadline);
      done = true;
      this.sockets.delete(socket);
    });
  }
}
