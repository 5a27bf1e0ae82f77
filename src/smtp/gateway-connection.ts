// smtp-server subclasses: spamgate owns the greeting delay, XCLIENT trust by CIDR, the error budget and the
// deletion of a period starting a data line (RFC 5321 §4.5.2).
// smtp-server 3.21 waits a fixed 100 ms before its 220 (SMTPConnection.init); our listener has already
// run the configurable pre-greet test, so the connection greets at once.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import type { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import type { CidrSet } from '../util/cidr.ts';
import { DotUnstuffer } from './dot-transparency.ts';
import { mailHasSmtpUtf8, refusePathEncoding } from './eai-guard.ts';
import { RELEASE_ON_CLOSE, type CountedSocket } from './listener.ts';
import { hideQuoted, revealQuoted } from './quoted-local.ts';
import { ENHANCED_PREFIX } from './smtp-error.ts';

// RFC 4648 §4: groups of four characters, "=" padding only at the end.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** AUTH mechanisms whose responses smtp-server decodes leniently (it skips what is not base64). */
const BASE64_MECHANISMS = new Set(['PLAIN', 'LOGIN']);

/** RFC 4954 §4: a response (or initial response) that cannot be BASE64-decoded gets 501 and ends the exchange. */
const MALFORMED_RESPONSE = '5.5.2 Invalid base64 in authentication response';

export interface GatewayServerOptions extends SMTPServerOptions {
  /** Peers allowed to use XCLIENT (by their real address). */
  xclientFrom: CidrSet;
  /** Error replies (4xx/5xx) since the last accepted message after which the session is closed with 421. */
  maxBadCommands: number;
  /** Called when XCLIENT has handed the session to another client, before the next command is read. */
  onClientChanged?: (session: SMTPServerSession) => void;
  /** A refused recipient that is not the client's error (a greylisting deferral): not counted against maxBadCommands… */
  notClientError?: (err: Error) => boolean;
  /** …up to this many in a session. */
  maxNotClientErrors?: number;
}

/**
 * The recipient limit's reply (RFC 3463 §3.6: 4.5.3, too many recipients). RFC 5321 §4.5.3.1.10: the client
 * goes on with the recipients it has and sends the rest in a later transaction, so these replies are not the
 * client's errors: counted as such, a message to max_recipients + max_bad_commands recipients got 421 before its
 * DATA on every attempt and was never delivered. They are bounded apart (a recipient overshoot limit).
 */
const RECIPIENT_OVERSHOOT_LIMIT = 1000;
const TOO_MANY_RECIPIENTS = /^4\.5\.3 /;
/**
 * 452 4.3.1 (RFC 3463 §3.4, mail system full: queue.min_free at MAIL, a spool write out of space): this host's
 * state, not the client's error. A client with several messages tries each in the same session; counted, the
 * session ended with "Too many errors" as if the client had misbehaved. Bounded with the greylist deferrals.
 */
const INSUFFICIENT_STORAGE = /^4\.3\.1 /;

/** smtp-server's reply to a verb it does not know. */
const UNKNOWN_COMMAND = '5.5.2 Error: command not recognized';

/** Anything but blanks after the verb. */
const hasArgument = (command: Buffer): boolean => /^\S+\s+\S/.test(command.toString());

class GatewayConnection extends SMTPConnection {
  private errorReplies = 0;
  private recipientOvershoot = 0;
  private notClientErrors = 0;
  private readonly realPeer: string;
  /**
   * XFORWARD attributes name the client of the next transaction only: at its end (RSET, the end of the data, a
   * new EHLO) the proxy is the client again, as a next hop that takes XFORWARD handles them. These are the
   * proxy's own while forwarded ones apply, and the HELO name XFORWARD left (restored only if still in force).
   */
  private beforeXforward: { addr: string; port: number; name: string | false; helo: string | false; forwardedHelo: string | false } | undefined;
  private applyingXforward = false;

  constructor(server: GatewayServer, socket: Socket | TLSSocket, options: SMTPConnectionOptions) {
    super(server, socket, options);
    this.realPeer = options.remoteAddress ?? socket.remoteAddress ?? '';
  }

  override init(): void {
    this._setListeners(() => this.connectionReady());
  }

  /**
   * RFC 5321 §4.5.2: a period that starts a line with other characters on it is deleted. The data bytes pass
   * through DotUnstuffer before the parser reads them (smtp-server deletes the period only before a second one).
   * smtp-server calls _write again itself for bytes it has not read yet (the data after DATA in the same chunk, the
   * commands after the end of the data), never for data it has read.
   */
  override _createParser(): SMTPStream {
    const parser = super._createParser();
    const dots = new DotUnstuffer();
    const startDataMode = parser.startDataMode.bind(parser);
    parser.startDataMode = (maxBytes) => {
      dots.reset();
      return startDataMode(maxBytes);
    };
    const write = parser._write.bind(parser);
    parser._write = (chunk, encoding, next) => {
      if (!parser._dataMode || parser.isClosed || chunk.length === 0) return write(chunk, encoding, next);
      const data = dots.feed(chunk);
      if (data.length === 0) return next(); // a period waiting for the next chunk
      write(data, encoding, next);
    };
    return parser;
  }

  /**
   * XCLIENT, and XFORWARD (as a before-queue content-filter proxy sends it: the original
   * client for the transaction that follows), from the xclient_from peers only.
   */
  override _proxyCommandAllowed(command: string, _option: 'useXClient' | 'useXForward'): boolean {
    const server = this._server as GatewayServer;
    // XCLIENT ADDR hands the session to the real client, who must not change it again.
    return !this.session.xClient?.has('ADDR') && server.xclientFrom.has(this.realPeer) && this._isSupported(command);
  }

  /**
   * STARTTLS: smtp-server removes every listener of the plain socket before wrapping it, the listener's close
   * handler too, which would keep the connection counted for ever (after max_connections_per_ip TLS sessions from
   * one address, or max_connections in all, every client got 421). It is put back.
   */
  override upgrade(callback: () => void, secureCallback?: () => void): void {
    const plain = this._socket as CountedSocket;
    const onClose = plain[RELEASE_ON_CLOSE];
    super.upgrade(callback, secureCallback);
    if (onClose && !plain.listeners('close').includes(onClose)) plain.once('close', onClose);
  }

  /**
   * RFC 4954 §4: an initial response that is not valid base64 is refused with 501 before smtp-server
   * decodes what it can of it (and checks the garbage as a password: a 535 counted against the limits).
   * "=" is the empty initial response.
   */
  override handler_AUTH(command: Buffer, callback: () => void): void {
    const [, mechanism = '', initial, ...rest] = command.toString().trim().split(/\s+/);
    if (initial !== undefined && rest.length === 0 && !this.session.user && BASE64_MECHANISMS.has(mechanism.toUpperCase()) && initial !== '=' && !BASE64.test(initial)) {
      this.send(501, MALFORMED_RESPONSE);
      return callback();
    }
    super.handler_AUTH(command, callback);
  }

  /** RFC 4954 §4: the same for a response line to a 334 challenge ("*" cancels, smtp-server answers that). */
  override _onCommand(command: Buffer, callback?: () => void): void {
    if (this._nextHandler && this._ready && !this._upgrading) {
      const line = command.toString().trim();
      if (line !== '*' && !BASE64.test(line)) {
        this._nextHandler = false;
        this.send(501, MALFORMED_RESPONSE);
        return callback?.();
      }
    }
    super._onCommand(command, callback);
  }

  /** After XCLIENT the session is the forwarded client's: what it may do (AUTH) is decided again for it. */
  override handler_XCLIENT(command: Buffer, callback: () => void): void {
    super.handler_XCLIENT(command, () => {
      (this._server as GatewayServer).onClientChanged?.(this.session);
      callback();
    });
  }

  /**
   * The same after XFORWARD ADDR, which hands the transaction to the forwarded client without a new greeting.
   * HELO=[UNAVAILABLE] (the original client gave none, or the proxy does not know it) says nothing of the
   * session's own greeting: smtp-server took it for an empty HELO name, and every MAIL after it got
   * "503 send HELO/EHLO first" until the session ended at max_bad_commands. The name known before is kept.
   */
  override handler_XFORWARD(command: Buffer, callback: () => void): void {
    const helo = this.hostNameAppearsAs;
    const proxy = this.beforeXforward ?? { addr: this.remoteAddress, port: this.remotePort, name: this.clientHostname, helo, forwardedHelo: false };
    this.applyingXforward = true;
    super.handler_XFORWARD(command, () => {
      this.applyingXforward = false;
      if (!this.hostNameAppearsAs && helo) this.hostNameAppearsAs = this.session.hostNameAppearsAs = helo;
      // smtp-server records what it applied; a refused XFORWARD applied nothing
      if (this._xForward.size > 0) this.beforeXforward = { ...proxy, forwardedHelo: this.hostNameAppearsAs };
      (this._server as GatewayServer).onClientChanged?.(this.session);
      callback();
    });
  }

  /**
   * The end of a transaction (RSET, the end of the data, EHLO) ends what XFORWARD said of its client: a later
   * transaction without XFORWARD, or with ADDR=[UNAVAILABLE] (mail the proxy's own host submitted), is the
   * proxy's. It stayed the forwarded client's: a trusted proxy's local mail after an outside client's message
   * was checked as that client's and refused relaying. Not when XFORWARD itself resets the session.
   */
  override _resetSession(): void {
    const proxy = this.beforeXforward;
    if (proxy && !this.applyingXforward) {
      this.beforeXforward = undefined;
      this.remoteAddress = proxy.addr;
      this.remotePort = proxy.port;
      this.clientHostname = proxy.name;
      // a HELO name given since (EHLO) or cleared (STARTTLS) stays as it is
      if (this.hostNameAppearsAs === proxy.forwardedHelo) this.hostNameAppearsAs = proxy.helo;
      this._xForward = new Map();
    }
    super._resetSession();
  }

  /** RFC 5321 §4.1.2: a Quoted-string local part may hold spaces and "@"; the library parser cannot. */
  override _parseAddressCommand(rawName: string, rawCommand: Buffer | string): ReturnType<SMTPConnection['_parseAddressCommand']> {
    const hidden = hideQuoted(rawCommand.toString());
    const parsed = super._parseAddressCommand(rawName, hidden ?? rawCommand);
    if (parsed && hidden !== undefined) parsed.address = revealQuoted(parsed.address);
    return parsed;
  }

  /** RFC 6531: a non-ASCII sender without SMTPUTF8 (or not in UTF-8) is refused before parsing. */
  override handler_MAIL(command: Buffer, callback: () => void): void {
    const refusal = this.session.envelope.mailFrom ? undefined : refusePathEncoding(command, mailHasSmtpUtf8(command), 'sender');
    if (!refusal) return super.handler_MAIL(command, callback);
    this.send(refusal.code, `${refusal.enhanced} ${refusal.text}`);
    callback();
  }

  /** RFC 6531: a non-ASCII recipient needs a transaction begun with MAIL FROM ... SMTPUTF8. */
  override handler_RCPT(command: Buffer, callback: () => void): void {
    const envelope = this.session.envelope;
    const refusal = envelope.mailFrom ? refusePathEncoding(command, envelope.smtpUtf8 === true, 'recipient') : undefined;
    if (!refusal) return super.handler_RCPT(command, callback);
    this.send(refusal.code, `${refusal.enhanced} ${refusal.text}`);
    callback();
  }

  /** RFC 5321 §4.1.1.4: "DATA" CRLF takes no argument (smtp-server would start the data on "DATA anything"). */
  override handler_DATA(command: Buffer, callback: () => void): void {
    if (hasArgument(command)) return this.refuseSyntax('DATA', callback);
    super.handler_DATA(command, callback);
  }

  /** RFC 5321 §4.1.1.5: "RSET" CRLF takes no argument. */
  override handler_RSET(command: Buffer, callback: () => void): void {
    if (hasArgument(command)) return this.refuseSyntax('RSET', callback);
    super.handler_RSET(command, callback);
  }

  private refuseSyntax(verb: string, callback: () => void): void {
    this.send(501, `5.5.4 Syntax: ${verb}`);
    callback();
  }

  /** smtp-server's jokes (WIZ answers 200) are no SMTP commands: they get the reply of any unknown command (RFC 5321 §4.2.4). */
  override handler_WIZ(_command: Buffer, callback: () => void): void {
    this.send(500, UNKNOWN_COMMAND);
    callback();
  }

  override handler_SHELL(_command: Buffer, callback: () => void): void {
    this.send(500, UNKNOWN_COMMAND);
    callback();
  }

  override handler_KILL(_command: Buffer, callback: () => void): void {
    this.send(500, UNKNOWN_COMMAND);
    callback();
  }

  /** EXPN would disclose list members: disabled (RFC 5321 §7.3 allows it). */
  handler_EXPN(_command: Buffer, callback: () => void): void {
    this.send(502, '5.5.1 EXPN not available');
    callback();
  }

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    // A reply text that already starts with an enhanced status code (ours) keeps it as written.
    const own = typeof data === 'string' && ENHANCED_PREFIX.test(data);
    super.send(code, data, own ? false : context);
    // The limit counts errors made without delivering mail: an accepted message starts the count again, so a long
    // session (a list server whose recipients are refused now and then) is not cut off for old errors.
    if (code === 250 && context === 'DATA_OK') this.errorReplies = 0;
    if (code >= 400 && code !== 421 && !this._closing) {
      if (code === 452 && typeof data === 'string' && TOO_MANY_RECIPIENTS.test(data) && ++this.recipientOvershoot <= RECIPIENT_OVERSHOOT_LIMIT) return;
      const server = this._server as GatewayServer;
      const ours = server.notClientErrorFor.delete(this.session.id) || (code === 452 && typeof data === 'string' && INSUFFICIENT_STORAGE.test(data));
      if (ours && this.notClientErrors++ < server.maxNotClientErrors) return;
      this.errorReplies++;
      const limit = server.maxBadCommands;
      if (this.errorReplies >= limit) super.send(421, `4.7.0 ${this.name} Too many errors, closing connection`, false);
    }
  }
}

export class GatewayServer extends SMTPServer {
  readonly xclientFrom: CidrSet;
  readonly maxBadCommands: number;
  readonly onClientChanged: ((session: SMTPServerSession) => void) | undefined;
  readonly maxNotClientErrors: number;
  /** Sessions whose RCPT refusal about to be sent is not the client's error (set and read in one turn). */
  readonly notClientErrorFor = new Set<string>();

  constructor(options: GatewayServerOptions) {
    const { xclientFrom, maxBadCommands, onClientChanged, notClientError, maxNotClientErrors, ...smtpOptions } = options;
    super({ ...smtpOptions, useXClient: xclientFrom.size > 0, useXForward: xclientFrom.size > 0 });
    this.xclientFrom = xclientFrom;
    this.maxBadCommands = maxBadCommands;
    this.onClientChanged = onClientChanged;
    this.maxNotClientErrors = maxNotClientErrors ?? 0;
    if (notClientError) {
      // smtp-server sends the refusal from inside this callback, so the mark is read at once by send()
      const inner = this.onRcptTo.bind(this);
      this.onRcptTo = (address, session, callback) =>
        inner(address, session, (err) => {
          if (err && notClientError(err)) this.notClientErrorFor.add(session.id);
          callback(err);
          this.notClientErrorFor.delete(session.id);
        });
    }
  }

  override connect(socket: Socket | TLSSocket, socketOptions?: SMTPConnectionOptions | null): void {
    const connection = new GatewayConnection(this, socket, socketOptions ?? {});
    this.connections.add(connection);
    connection.on('error', (err: Error) => this.emit('error', err));
    connection.on('connect', (data) => this._onClientConnect(data));
    connection.init();
  }
}
