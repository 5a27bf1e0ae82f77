// The HTTP endpoint: /metrics (Prometheus text, OpenMetrics on request), /healthz and /readyz; components may add
// routes that answer GET and POST themselves (the quarantine digest's links).
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Registry } from 'prom-client';
import { PerAddressLimit } from '../limits/per-address.ts';
import { normalizeIp, type CidrSet } from '../util/cidr.ts';
import type { Logger } from '../util/logger.ts';
import { openMetrics, OPENMETRICS_CONTENT_TYPE } from './openmetrics.ts';

export interface HealthReport {
  ok: boolean;
  [component: string]: unknown;
}

export interface Readiness {
  ready: boolean;
  /** What keeps the instance from taking mail (empty when ready). */
  reasons: string[];
}

export interface HttpServerOptions {
  registry: Registry;
  /** Liveness: listeners and queue state; ok=false answers 503. */
  health: () => Promise<HealthReport> | HealthReport;
  /** Readiness: whether mail can be taken now, and if not why (draining, no spool space). */
  ready: () => Promise<Readiness> | Readiness;
  /** Client addresses served (http.allow); others are closed at once, before any connection cap counts them. */
  allow?: CidrSet;
  /** Further paths, answering GET and POST (others get 405); the handler writes the whole response. */
  routes?: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>>;
  log: Logger;
}

/**
 * A client that half-closes its side once the request is sent (`nc -N`, a shell probe; Exim after a request) still
 * gets its answer. node:http ends such a connection at the client's FIN unless `httpAllowHalfOpen` is set (a
 * field of http.Server its types leave out): an answer made asynchronously (readiness, a scan) was never written.
 */
export function answerHalfClosed(server: http.Server): void {
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
}

const MAX_CONNECTIONS = 256;
const PER_IP = 32;
const IDLE_MS = 5_000;

export function createHttpServer(opts: HttpServerOptions): { listen(port: number, host: string): Promise<AddressInfo>; close(): Promise<void> } {
  // Timeouts are checked every second (Node's default is every 30 s), and a connection that sends nothing
  // is closed after IDLE_MS, so idle sockets cannot hold the slots scrapers and probes need; one address
  // may hold PER_IP of them.
  const server = http.createServer({ connectionsCheckingInterval: 1000, keepAliveTimeout: IDLE_MS }, (req, res) => void handle(req, res, opts));
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  answerHalfClosed(server);
  // The caps are counted here rather than by server.maxConnections, so that a client outside http.allow
  // is closed before it takes a slot.
  const perIp = new PerAddressLimit(PER_IP);
  const admitted = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    const ip = normalizeIp(socket.remoteAddress ?? '');
    if ((opts.allow && !opts.allow.has(ip)) || admitted.size >= MAX_CONNECTIONS || !perIp.admit(socket, socket.remoteAddress ?? '')) {
      socket.destroy();
      return;
    }
    admitted.add(socket);
    socket.once('close', () => admitted.delete(socket));
    // idle before its first request (or between requests): closed; a request in progress is bounded above
    socket.setTimeout(IDLE_MS, () => socket.destroy());
  });
  return {
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(server.address() as AddressInfo);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

type Route = (req: IncomingMessage, res: ServerResponse, opts: HttpServerOptions) => Promise<void>;

const ROUTES: Record<string, Route> = {
  '/metrics': async (req, res, opts) => {
    const wantsOpenMetrics = /application\/openmetrics-text/.test(req.headers.accept ?? '');
    // Serialized apart: prom-client's OpenMetrics mode renames the shared counters in place.
    if (wantsOpenMetrics) return send(res, 200, OPENMETRICS_CONTENT_TYPE, await openMetrics(opts.registry));
    send(res, 200, opts.registry.contentType, await opts.registry.metrics());
  },
  '/healthz': async (_req, res, opts) => {
    const report = await opts.health();
    send(res, report.ok ? 200 : 503, 'application/json', JSON.stringify(report) + '\n');
  },
  '/readyz': async (_req, res, opts) => {
    const r = await opts.ready();
    send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify(r.ready ? { ready: true } : r) + '\n');
  },
};

/** The path of a request target: origin-form "/p?q", or absolute-form "http://host/p" (RFC 9112 §3.2.2). */
export function targetPath(target: string): string {
  if (/^https?:\/\//i.test(target)) {
    try {
      return new URL(target).pathname;
    } catch {
      return target;
    }
  }
  return target.split(/[?#]/)[0] ?? target;
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: HttpServerOptions): Promise<void> {
  const url = targetPath(req.url ?? '/');
  try {
    const extra = opts.routes && Object.hasOwn(opts.routes, url) ? opts.routes[url] : undefined;
    if (extra) {
      if (req.method !== 'GET' && req.method !== 'POST') return send(res, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, POST' });
      return await extra(req, res);
    }
    const route = Object.hasOwn(ROUTES, url) ? ROUTES[url] : undefined;
    if (!route) return send(res, 404, 'text/plain', 'not found\n');
    // RFC 9110 §15.5.6: a 405 names the methods the resource does allow.
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
    await route(req, res, opts);
  } catch (err) {
    opts.log.error('http handler failed', { err, url });
    if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
    else res.destroy();
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
