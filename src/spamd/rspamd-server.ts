// The rspamd HTTP scan protocol on spamd.http_listen (node:http): POST /checkv2 judged by the spamd scan
// (judge.ts) with the envelope from the request headers (rspamd-request.ts), GET /ping, POST /learnspam and
// /learnham through the TELL learner when spamd.allow_tell. Bounded as the spamd listener: clients outside
// spamd.allowed_networks are closed at connect, spamd.max_connections at once, the whole request (headers and
// body) within spamd.timeout of the connection, a body over spamd.max_size refused (413) on its Content-Length
// or as soon as a chunked body passes it. One request per connection (Connection: close). Errors are rspamd's
// {"error": "..."} with a 4xx/5xx status.
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Learner, MessageClass } from '../bayes/learner.ts';
import type { SpamdConfig } from '../config/sections/spamd.ts';
import { targetPath } from '../metrics/http-server.ts';
import type { Registry } from '../metrics/registry.ts';
import type { GatewayDeps } from '../smtp/gateway-types.ts';
import { CidrSet, normalizeIp } from '../util/cidr.ts';
import { SocketService } from '../util/socket-listener.ts';
import { thresholdsFor } from '../scoring/ruleset.ts';
import { scanMessage, type Scan } from './judge.ts';
import { serveLegacy, sniffLegacy } from './rspamc-legacy.ts';
import { localRecipient } from './respond.ts';
import { createRspamdMetrics, type RspamdEndpoint, type RspamdMetrics, type RspamdResult } from './rspamd-metrics.ts';
import { printable, readEnvelope } from './rspamd-request.ts';
import { rspamdReply } from './rspamd-response.ts';

export interface RspamdServerOptions {
  deps: GatewayDeps;
  config: () => SpamdConfig;
  registry: Registry;
  learner?: Learner;
}

/** A failure answered as rspamd does: a status and {"error": text}. */
class HttpFail extends Error {
  constructor(
    readonly status: number,
    readonly result: RspamdResult,
    text: string,
    /** For a 405: the methods the resource takes (RFC 9110 §15.5.6: the Allow header is a MUST). */
    readonly allow?: string,
  ) {
    super(text);
  }
}

const ENDPOINTS: Readonly<Record<string, RspamdEndpoint>> = { '/checkv2': 'checkv2', '/ping': 'ping', '/learnspam': 'learnspam', '/learnham': 'learnham' };

/** Takes the connections (SocketService's server): a legacy RSPAMC request is answered here, anything else handed to `http` (HTTP). */
export class RspamdHttpServer extends SocketService {
  private readonly http: http.Server;
  private readonly metrics: RspamdMetrics;
  private allowed: { list: readonly string[]; set: CidrSet } | undefined;
  /** Each connection's request deadline, cleared once its request is read. */
  private readonly deadlines = new WeakMap<Socket, NodeJS.Timeout>();
  /** Connections whose one request is being served: a request pipelined after it is not. */
  private readonly served = new WeakSet<Socket>();
  /** Connections whose scan is running: each holds its max_connections slot until the scan ends, client gone or not. */
  private readonly scanning = new WeakSet<Socket>();

  constructor(private readonly opts: RspamdServerOptions) {
    super({}, (err) => opts.deps.log.error('rspamd http listener error', { err }));
    this.metrics = createRspamdMetrics(opts.registry);
    // 16 KiB of request headers at most (431 past it); the timeouts are ours, per connection (below); the Host
    // check is ours too (node's own answers a bare 400, not rspamd's {"error"})
    this.http = http.createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 0, requireHostHeader: false }, (req, res) => void this.handle(req, res));
    // no count of header lines (node drops those past it silently, an IP or Content-Length among them): the 16 KiB
    // bound them, and readEnvelope refuses more than MAX_RCPTS recipients
    this.http.maxHeadersCount = 0;
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      // bytes in or after the one request: a body being read is refused (400, by its reader); past it (a body not
      // read, junk after it) the request's answer, written or to come, is the only one and closes the connection
      if (this.served.has(socket)) {
        // (answered at once: node ends the connection right after a parse error at its end)
        socket.emit('spamgate-bad-body', err);
        return;
      }
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      this.metrics.request('other', 'error');
      if (socket.writable) socket.end(rawResponse(status, { error: status === 431 ? 'request headers too large' : 'malformed HTTP request' }));
      else socket.destroy();
    });
    // RFC 9110 §10.1.1: an expectation other than 100-continue may get 417; node's own answer has no error text and
    // keeps the connection open for another request
    this.http.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
      this.served.add(req.socket);
      this.metrics.request('other', 'error');
      res.shouldKeepAlive = false;
      send(res, 417, json({ error: `Expect ${printable(String(req.headers.expect ?? ''))} is not supported (only 100-continue)` }));
      this.answered(req.socket, this.opts.config());
    });
    // CONNECT is node's to hand over as a tunnel (without a listener it closes the connection without a word)
    this.http.on('connect', (_req: IncomingMessage, socket: Socket) => {
      this.metrics.request('other', 'error');
      if (!socket.writable) return void socket.destroy();
      socket.end(rawResponse(405, { error: 'method CONNECT not allowed' }, 'Allow: GET, HEAD, POST\r\n'));
      socket.destroySoon();
    });
    this.http.on('error', (err) => opts.deps.log.error('rspamd http listener error', { err }));
  }

  async listen(): Promise<AddressInfo> {
    const listen = this.opts.config().http_listen;
    if (listen === null) throw new Error('spamd.http_listen is not set');
    return this.bindTo(listen, 'spamd.http_listen');
  }

  protected accept(socket: Socket): void {
    const config = this.opts.config();
    const { log } = this.opts.deps;
    socket.on('error', () => undefined);
    const peer = socket.remoteAddress === undefined ? undefined : normalizeIp(socket.remoteAddress);
    if (peer !== undefined) {
      if (this.allowed?.list !== config.allowed_networks) this.allowed = { list: config.allowed_networks, set: new CidrSet(config.allowed_networks) };
      if (!this.allowed.set.has(peer)) {
        this.metrics.request('other', 'not_allowed');
        log.warn('rspamd http connection refused: not in spamd.allowed_networks', { peer });
        socket.destroy();
        return;
      }
    }
    if (this.sockets.size >= config.max_connections) {
      this.metrics.request('other', 'too_many');
      log.warn('rspamd http connection refused: too many connections', { max: config.max_connections });
      socket.end(rawResponse(503, { error: 'too many connections, try again later' }));
      socket.destroySoon();
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => {
      if (!this.scanning.has(socket)) this.sockets.delete(socket);
    });
    // the whole request within spamd.timeout of the connection, however it trickles in; a scan in progress is
    // bounded by the checks' own budgets, and the answer must then be taken with no silence that long
    const deadline = setTimeout(() => socket.emit('spamgate-timeout'), config.timeout);
    this.deadlines.set(socket, deadline);
    socket.once('close', () => clearTimeout(deadline));
    socket.once('spamgate-timeout', () => {
      if (socket.listenerCount('spamgate-timeout') > 0) return; // a request's reader answers it
      this.metrics.request('other', 'timeout');
      socket.end(rawResponse(408, { error: `no complete request within ${config.timeout} ms` }));
      socket.destroySoon();
    });
    socket.once('spamgate-request-read', () => this.requestRead(socket));
    socket.once('spamgate-answered', () => this.answered(socket, config));
    // the first bytes say which protocol: Exim's variant=rspamd speaks the legacy "CHECK RSPAMC/1.3"
    let first = Buffer.alloc(0);
    const sniff = (chunk: Buffer): void => {
      first = Buffer.concat([first, chunk]);
      const legacy = sniffLegacy(first);
      if (legacy === undefined) return; // the start of a legacy request line: its rest is awaited
      socket.off('data', sniff);
      socket.pause();
      if (legacy) {
        serveLegacy(socket, first, {
          maxSize: config.max_size,
          result: (r) => this.metrics.request('check', r),
          judge: async (headers, distinct, raw) => {
            const { scan, user } = await this.judge(headers, distinct, raw, socket, 'check', config);
            return { scan, reject: thresholdsFor(this.opts.deps.snapshot().ruleset, user).reject ?? 1000 };
          },
        });
      } else {
        socket.unshift(first);
        this.http.emit('connection', socket);
      }
      process.nextTick(() => socket.resume());
    };
    socket.on('data', sniff);
  }

  /** The request is in: no deadline while it is judged (the checks' own budgets bound a scan). */
  private requestRead(socket: Socket): void {
    clearTimeout(this.deadlines.get(socket));
  }

  /** The answer is written: it must be taken with no silence of spamd.timeout (a client that stops reading). */
  private answered(socket: Socket, config: SpamdConfig): void {
    socket.setTimeout(config.timeout, () => socket.destroy());
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // one request per connection: node hands on a pipelined one too, whose refusal would close the connection
    // under the first's answer; it is neither judged nor answered (the connection closes after the first)
    if (this.served.has(req.socket)) return;
    this.served.add(req.socket);
    const config = this.opts.config();
    const path = targetPath(req.url ?? '/');
    const endpoint: RspamdEndpoint = Object.hasOwn(ENDPOINTS, path) ? (ENDPOINTS[path] ?? 'other') : 'other';
    const started = performance.now();
    res.shouldKeepAlive = false;
    try {
      // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host
      if (req.httpVersion !== '1.0' && req.headers.host === undefined) throw new HttpFail(400, 'error', 'Host header required (HTTP/1.1)');
      // … and to any request with more than one Host (node keeps the first and drops the others silently)
      if ((req.headersDistinct.host?.length ?? 0) > 1) throw new HttpFail(400, 'error', 'more than one Host header');
      if (endpoint === 'ping') {
        if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'HEAD') throw new HttpFail(405, 'error', `method ${printable(req.method ?? '')} not allowed`, 'GET, HEAD, POST');
        this.requestRead(req.socket);
        this.metrics.request('ping', 'ok');
        send(res, 200, 'pong\r\n', 'text/plain');
        return;
      }
      if (endpoint === 'other') throw new HttpFail(404, 'error', `no such endpoint: ${printable(path)}`);
      if (req.method !== 'POST') throw new HttpFail(405, 'error', `${path} needs POST`, 'POST');
      const learning = endpoint === 'learnspam' || endpoint === 'learnham';
      if (learning && !config.allow_tell) throw new HttpFail(403, 'refused', 'learning is not enabled (spamd.allow_tell)');
      if (learning && !this.opts.learner) throw new HttpFail(503, 'refused', 'nothing to learn into (bayes and fuzzy are off)');
      const body = await readBody(req, res, config.max_size);
      this.requestRead(req.socket);
      if (learning) {
        const cls: MessageClass = endpoint === 'learnspam' ? 'spam' : 'ham';
        const outcome = await (this.opts.learner as Learner).learn(body, cls, 'manual');
        this.opts.deps.log.info('rspamd http learn', { peer: req.socket.remoteAddress ?? 'unix', class: cls, outcome });
        this.metrics.request(endpoint, 'ok');
        // rspamd: 208 and an error text for a message it has already learned as that class
        if (outcome === 'already') send(res, 208, json({ error: `message has been already learned as ${cls}, ignore it` }));
        else send(res, 200, json({ success: outcome === 'learned' || outcome === 'relearned' }));
        return;
      }
      await this.check(req, res, body, config, started);
    } catch (err) {
      const fail = err instanceof HttpFail ? err : undefined;
      if (!fail) this.opts.deps.log.error('unexpected error in rspamd http request', { err });
      this.metrics.request(endpoint, fail?.result ?? 'error');
      if (!res.headersSent) send(res, fail?.status ?? 500, json({ error: fail?.message ?? 'internal error' }), 'application/json', fail?.allow === undefined ? {} : { allow: fail.allow });
      else if (!res.writableEnded) res.destroy();
      // a body not read (refused on its Content-Length) is not waited for
      req.socket.destroySoon();
    } finally {
      this.answered(req.socket, config);
    }
  }

  private async check(req: IncomingMessage, res: ServerResponse, raw: Buffer, config: SpamdConfig, started: number): Promise<void> {
    const { scan } = await this.judge(req.headers, req.headersDistinct, raw, req.socket, 'checkv2', config);
    this.metrics.request('checkv2', scan.spam ? 'spam' : 'ham');
    send(res, 200, json(rspamdReply(scan, this.opts.deps.snapshot().ruleset, raw, performance.now() - started)));
  }

  /** Judges a message with the envelope of these request headers; an HttpFail for what cannot be judged. */
  private async judge(headers: IncomingHttpHeaders, distinct: Record<string, string[] | undefined>, raw: Buffer, socket: Socket, command: string, config: SpamdConfig): Promise<{ scan: Extract<Scan, { kind: 'scanned' }>; user?: string }> {
    const { deps } = this.opts;
    const env = readEnvelope(headers, distinct);
    if ('error' in env) throw new HttpFail(400, 'error', env.error);
    const localDomains = deps.snapshot().config.local_domains;
    // the thresholds of the first recipient at one of our domains (Deliver-To first: the mailbox it ends in)
    const user = [env.deliverTo, ...env.rcpts].map((r) => localRecipient(r, localDomains)).find((r) => r !== undefined);
    // a client that closes its connection does not free the slot of a scan still running
    this.scanning.add(socket);
    const scan = await scanMessage(deps, config, {
      raw,
      command,
      via: 'rspamd-http',
      peer: socket.remoteAddress ?? 'unix',
      envelope: { facts: env.facts },
      rcpts: env.rcpts,
      ...(user ? { user } : {}),
      ...(env.user ? { authUser: env.user, userHeader: env.user } : {}),
    }).finally(() => {
      this.scanning.delete(socket);
      if (socket.destroyed) this.sockets.delete(socket);
    });
    if (scan.kind === 'refused') throw new HttpFail(scan.text.startsWith('552') ? 413 : 400, scan.text.startsWith('552') ? 'too_large' : 'error', `message refused: ${scan.text}`);
    return { scan, ...(user ? { user } : {}) };
  }
}

/**
 * The body, at most `max` bytes: refused at once on a larger Content-Length, or when a chunked body passes it; a
 * body node cannot parse (a bad chunk, cut short) is answered 400 here, at once, before node closes the connection.
 */
function readBody(req: IncomingMessage, res: ServerResponse, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const length = req.headers['content-length'];
    const codings = transferCodings(req.headers['transfer-encoding']);
    // RFC 9112 §6.1: a transfer coding the server does not understand gets 501 (node:http takes the chunks off
    // "gzip, chunked" and would hand over the body still compressed)
    const unknown = codings.find((c) => c !== 'chunked');
    if (unknown !== undefined) return reject(new HttpFail(501, 'error', `transfer coding ${JSON.stringify(unknown.slice(0, 40))} is not supported (only chunked)`));
    const chunked = codings.includes('chunked');
    if (req.headers['content-encoding'] !== undefined || req.headers.compression !== undefined) return reject(new HttpFail(415, 'error', 'compressed requests are not supported'));
    if (length === undefined && !chunked) return reject(new HttpFail(411, 'error', 'Content-Length (or a chunked body) required'));
    if (length !== undefined && Number(length) > max) return reject(new HttpFail(413, 'too_large', `message too big: Content-Length ${length} is over the limit of ${max} bytes`));
    const chunks: Buffer[] = [];
    let size = 0;
    const socket = req.socket;
    const onTimeout = (): void => reject(new HttpFail(408, 'timeout', 'no complete request in time'));
    const onBadBody = (): void => {
      // bytes after a body read whole (node parses them in the same chunk, before the body's end is emitted) are no
      // fault of this request: it is answered, and that one answer closes the connection
      if (req.complete) return;
      const fail = new HttpFail(400, 'error', 'malformed HTTP request body');
      if (!res.headersSent) send(res, fail.status, json({ error: fail.message }));
      reject(fail);
    };
    socket.on('spamgate-timeout', onTimeout);
    socket.once('spamgate-bad-body', onBadBody);
    const done = (): void => {
      socket.off('spamgate-timeout', onTimeout);
      socket.off('spamgate-bad-body', onBadBody);
    };
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        done();
        req.pause();
        reject(new HttpFail(413, 'too_large', `message too big: over the limit of ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      done();
      if (size === 0) reject(new HttpFail(400, 'error', 'empty message'));
      else resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      done();
      reject(new HttpFail(400, 'error', `request not read: ${err.message}`));
    });
  });
}

/** The transfer codings a request names, lower-cased, parameters left out ("gzip, chunked" → gzip, chunked). */
function transferCodings(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header
    .split(',')
    .map((c) => (c.split(';')[0] ?? '').trim().toLowerCase())
    .filter((c) => c !== '');
}

const json = (v: unknown): string => JSON.stringify(v);

function send(res: ServerResponse, status: number, body: string, type = 'application/json', extra: Readonly<Record<string, string>> = {}): void {
  res.writeHead(status, { ...extra, 'content-type': type, 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}

/** A response written on the socket itself (before or outside node:http's request handling). */
function rawResponse(status: number, body: unknown, extraHeaders = ''): string {
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n${extraHeaders}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`;
}
