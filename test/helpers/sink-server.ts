// A sink SMTP/LMTP server for tests: records every accepted envelope and its raw bytes, and
// replies 4xx/5xx on command (per recipient or per message), or goes down and comes back up.
//
//   const sink = await startSink({ lmtp: false });            // listens on 127.0.0.1, random port
//   sink.rule({ stage: 'rcpt', rcpt: 'bad@x.test', code: 550 }); // RCPT TO:<bad@x.test> → 550
//   sink.rule({ stage: 'data', code: 451, times: 1 });          // next DATA → 451, then normal
//   await sink.waitForMessages(1);  sink.messages[0].raw         // Buffer, byte for byte
//   await sink.down(); await sink.up();                          // refuse connections, then listen again
//   await startSink({ dsn: true })                               // offers DSN; messages[i].mailParams / rcptParams
//   await startSink({ xforward: true })                          // offers XFORWARD; messages[i].xforward
//   await startSink({ tls, auth: { username: 'u', password: 'p' } }) // requires AUTH (PLAIN, LOGIN); sink.logins
//   await startSink({ tls, implicitTls: true })                  // TLS from the first byte (465 style)
//   t.after(() => sink.close());
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerDataResult, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

export interface SinkMessage {
  mailFrom: string;
  rcptTo: string[];
  /** The message as received after dot-unstuffing, byte for byte. */
  raw: Buffer;
  /** True when the session had switched to TLS (STARTTLS). */
  secure: boolean;
  /** Name the client gave in EHLO/LHLO. */
  helo: string;
  /** MAIL FROM parameters (xtext decoded by smtp-server), e.g. { RET: 'HDRS', ENVID: 'abc' }. */
  mailParams: Record<string, string | true>;
  /** RCPT TO parameters per accepted recipient, e.g. { 'b@y': { NOTIFY: 'SUCCESS', ORCPT: 'rfc822;b@y' } }. */
  rcptParams: Record<string, Record<string, string | true>>;
  /** XFORWARD attributes as the session held them at the end of the data (offered with `xforward: true`). */
  xforward: Record<string, string>;
  /** The user the session logged in as (with `auth`). */
  user?: string;
  /** The address the client connected from. */
  remoteAddress: string;
}

/** One AUTH attempt the sink saw: mechanism, credentials, whether TLS was up and whether it was taken. */
export interface SinkLogin {
  method: string;
  username: string;
  password: string;
  secure: boolean;
  ok: boolean;
}

export interface SinkRule {
  /** Where the reply is given: MAIL FROM, RCPT TO or after the data. */
  stage: 'mail' | 'rcpt' | 'data';
  /** Only for this recipient (rcpt stage; data stage in LMTP mode gives that recipient this reply). */
  rcpt?: string;
  code: number;
  text?: string;
  /** How many times the rule fires before it is dropped; unlimited when absent. */
  times?: number;
}

export interface SinkOptions {
  lmtp?: boolean;
  /** Offer STARTTLS with this key and certificate (PEM); without it STARTTLS is not offered. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Listen on this port (0 = random). */
  port?: number;
  /** Loopback address to listen on (default 127.0.0.1; any 127.x.y.z works on Linux). */
  host?: string;
  /** Offer the DSN extension (RFC 3461); off by default, as smtp-server does. */
  dsn?: boolean;
  /** Offer SMTPUTF8 (RFC 6531); on by default, as smtp-server does. */
  smtputf8?: boolean;
  /** Offer 8BITMIME (RFC 6152); on by default, as smtp-server does. */
  eightBitMime?: boolean;
  /** Offer XFORWARD (to any client); off by default. Attributes persist over a session's transactions. */
  xforward?: boolean;
  /**
   * Require AUTH with these credentials before MAIL (530 otherwise); mechanisms PLAIN and LOGIN unless given.
   * Without tls, AUTH is offered and taken in clear (so a test sees a client that would send a password so).
   */
  auth?: { username: string; password: string; methods?: string[] };
  /** Implicit TLS (RFC 8314): the handshake first, then the greeting; needs tls. */
  implicitTls?: boolean;
}

export interface SinkServer {
  readonly host: string;
  readonly port: number;
  /** Messages accepted (for LMTP: with the recipients that got 250). */
  readonly messages: SinkMessage[];
  /** Connections accepted so far (to check connection reuse). */
  readonly connectionCount: number;
  /** Every AUTH attempt (with `auth`). */
  readonly logins: SinkLogin[];
  rule(rule: SinkRule): void;
  clearRules(): void;
  /** Resolves once at least n messages have been accepted. */
  waitForMessages(n: number, timeoutMs?: number): Promise<void>;
  /**
   * Stops serving SMTP and drops open connections. The port stays bound (each connection is closed at
   * once, so clients fail as if refused): another listener taking the freed port cannot make up() fail.
   */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

class ReplyError extends Error {
  constructor(
    message: string,
    readonly responseCode: number,
  ) {
    super(message);
  }
}

export async function startSink(options: SinkOptions = {}): Promise<SinkServer> {
  const messages: SinkMessage[] = [];
  const logins: SinkLogin[] = [];
  const rules: SinkRule[] = [];
  const events = new EventEmitter();
  let connectionCount = 0;
  let port = options.port ?? 0;
  let server: SMTPServer | undefined;
  const host = options.host ?? '127.0.0.1';

  const take = (stage: SinkRule['stage'], rcpt?: string): ReplyError | undefined => {
    const i = rules.findIndex((r) => r.stage === stage && (r.rcpt === undefined || r.rcpt.toLowerCase() === rcpt?.toLowerCase()));
    const r = rules[i];
    if (!r) return undefined;
    if (r.times !== undefined && --r.times <= 0) rules.splice(i, 1);
    return new ReplyError(r.text ?? `sink says ${r.code}`, r.code);
  };

  const onData = (stream: SMTPServerDataStream, session: SMTPServerSession, done: (err?: Error | null, msg?: string | SMTPServerDataResult[]) => void): void => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const raw = Buffer.concat(chunks);
      const rcptTo = session.envelope.rcptTo.map((a) => a.address);
      const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      const mailParams = session.envelope.mailFrom ? { ...(session.envelope.mailFrom.args || {}) } : {};
      const record = (accepted: string[]): void => {
        if (!accepted.length) return;
        const rcptParams = Object.fromEntries(session.envelope.rcptTo.filter((a) => accepted.includes(a.address)).map((a) => [a.address, { ...(a.args || {}) }]));
        const xforward = Object.fromEntries([...session.xForward].filter(([k]) => !k.includes(':')).map(([k, v]) => [k, String(v)]));
        const user = typeof session.user === 'string' ? { user: session.user } : {};
        messages.push({ mailFrom, rcptTo: accepted, raw, secure: session.secure, helo: session.hostNameAppearsAs, mailParams, rcptParams, xforward, ...user, remoteAddress: session.remoteAddress.replace(/^::ffff:/, '') });
        events.emit('message');
      };
      if (options.lmtp) {
        // RFC 2033 §4.2: one reply per accepted recipient, in RCPT order.
        const replies: SMTPServerDataResult[] = rcptTo.map((r) => take('data', r) ?? `ok ${r}`);
        record(rcptTo.filter((_r, i) => typeof replies[i] === 'string'));
        done(null, replies);
        return;
      }
      const err = take('data');
      if (err) return done(err);
      record(rcptTo);
      done(null, `queued as sink-${messages.length}`);
    });
  };

  const build = (): SMTPServer =>
    new SMTPServer({
      lmtp: options.lmtp ?? false,
      secure: options.implicitTls === true,
      hideSTARTTLS: options.tls === undefined || options.implicitTls === true,
      hideDSN: !options.dsn,
      hideSMTPUTF8: options.smtputf8 === false,
      hide8BITMIME: options.eightBitMime === false,
      useXForward: options.xforward === true,
      ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
      authOptional: options.auth === undefined,
      ...(options.auth
        ? {
            authMethods: options.auth.methods ?? ['PLAIN', 'LOGIN'],
            allowInsecureAuth: true,
            onAuth: (a: SMTPServerAuthentication, session: SMTPServerSession, cb: (err: Error | null | undefined, response?: { user: string }) => void) => {
              const want = options.auth;
              const ok = want !== undefined && a.username === want.username && a.password === want.password;
              logins.push({ method: a.method, username: a.username ?? '', password: a.password ?? '', secure: session.secure, ok });
              if (ok) cb(null, { user: a.username ?? '' });
              else cb(new ReplyError('5.7.8 Authentication credentials invalid', 535));
            },
          }
        : { disabledCommands: ['AUTH'] }),
      logger: false,
      closeTimeout: 1,
      size: 50 * 1024 * 1024,
      onConnect: (_session, cb) => {
        connectionCount++;
        cb();
      },
      onMailFrom: (_addr, _session, cb) => cb(take('mail') ?? null),
      onRcptTo: (addr, _session, cb) => cb(take('rcpt', addr.address) ?? null),
      onData,
    });

  /** Holds the port while down: every connection is closed before a greeting. */
  let placeholder: net.Server | undefined;
  const releasePlaceholder = async (): Promise<void> => {
    const p = placeholder;
    placeholder = undefined;
    if (p) await new Promise<void>((resolve) => p.close(() => resolve()));
  };

  const up = async (): Promise<void> => {
    await releasePlaceholder();
    const s = build();
    s.on('error', () => undefined);
    s.listen(port, host);
    await once(s.server, 'listening');
    const addr = s.server.address();
    if (addr && typeof addr === 'object') port = addr.port;
    server = s;
  };

  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  const down = async (): Promise<void> => {
    await stop();
    if (placeholder) return;
    const p = net.createServer((socket) => socket.destroy());
    p.on('error', () => undefined);
    p.listen(port, host);
    await once(p, 'listening');
    placeholder = p;
  };

  const close = async (): Promise<void> => {
    await stop();
    await releasePlaceholder();
  };

  await up();
  return {
    host,
    get port() {
      return port;
    },
    messages,
    logins,
    get connectionCount() {
      return connectionCount;
    },
    rule: (r) => void rules.push({ ...r }),
    clearRules: () => void rules.splice(0),
    waitForMessages: async (n, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`sink: ${messages.length} of ${n} messages after ${timeoutMs} ms`);
        await once(events, 'message', { signal: AbortSignal.timeout(left) }).catch(() => undefined);
      }
    },
    down,
    up,
    close,
  };
}
