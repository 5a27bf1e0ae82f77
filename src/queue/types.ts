// Envelope and verdict data that travel with a message through the spool to delivery, including
// the sender's delivery status notification requests (RFC 3461).

/** What the gateway decided, carried to delivery (junk routing, subject rewrite already applied). */
export interface QueuedVerdict {
  action: string;
  score: number;
  /** Recipients whose copy goes to the Junk folder (full-stack mode). */
  junkRecipients?: string[];
  /**
   * RFC 5235 spamtest values (1–10, and 0–100 for :percent) per recipient as in rcptTo, mapped from the
   * recipient's score and thresholds (sieve/spamtest.ts); absent for mail not judged ("0": not tested).
   */
  spamtest?: Record<string, { value: number; percent: number }>;
  /** RFC 5235 §3.3 virustest of the message (1 clean, 5 virus); absent when not scanned. */
  virustest?: number;
}

/** RFC 3461 §4.1 NOTIFY keywords; NEVER stands alone. */
export type NotifyKeyword = 'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY';

/** What the sender asked for one recipient; a field the client did not give is absent. */
export interface RecipientDsnRequest {
  /** RFC 3461 §4.1 NOTIFY. Absent: the MTA's default (failure and delay notices). */
  notify?: NotifyKeyword[];
  /**
   * RFC 3461 §4.2 ORCPT as "addr-type;address", xtext decoded (e.g. "rfc822;b@example.org"); the
   * RFC 6533 "utf-8" type holds the mailbox itself ("utf-8;jörg@example.org").
   */
  orcpt?: string;
}

/** RFC 3461 §4.3 RET: return the full message or its headers in a failure notice. */
export type DsnReturn = 'FULL' | 'HDRS';

export interface QueueEnvelope {
  /** Reverse path; '' is the null sender (never bounced to). */
  mailFrom: string;
  rcptTo: string[];
  /** Gateway session id, for logs. */
  sessionId: string;
  clientIp: string;
  /** ms since epoch when the message was accepted. */
  receivedAt: number;
  /** RFC 3461 §4.4 ENVID (xtext decoded), if given. */
  envid?: string;
  /** RFC 3461 §4.3 RET, if given. */
  ret?: DsnReturn;
  /**
   * RFC 3461 NOTIFY/ORCPT per recipient, keyed by the address as in rcptTo; recipients that gave
   * neither are absent. Spool files written before DSN support have none of ret/rcptDsn.
   */
  rcptDsn?: Record<string, RecipientDsnRequest>;
  /** The message came with SMTPUTF8 (RFC 6531) and goes on with it; absent means no. */
  smtputf8?: boolean;
  verdict?: QueuedVerdict;
  /** The message came in authenticated (submission): relaying to remote recipients is allowed. */
  authUser?: string;
  /**
   * The message came from an authenticated client or a trusted network: our own mail, whose sender is BATV-signed
   * when handed on to another domain (batv.enabled). Absent in spool files written before BATV and in notices.
   */
  outgoing?: boolean;
  /** The SMTP client beside clientIp, for XFORWARD to the upstream; absent in notices spamgate wrote. */
  client?: { port?: number; name?: string; helo?: string; esmtp?: boolean };
  /**
   * A TLS report spamgate wrote (RFC 8460 §5.3): its sessions are not counted in TLS reports and MTA-STS does not hold
   * it back ("MUST deliver reports despite any TLS-related failures"). Set only by spamgate, never from SMTP.
   */
  tlsReport?: boolean;
  /**
   * What spamgate's checks found at receipt (mail from outside only): the Authentication-Results value it wrote
   * (authserv-id first) and the ARC chain status (RFC 8617 §4.4), for the ARC set of a forwarded copy (arc-forward.ts).
   */
  auth?: ReceiptAuth;
}

export interface ReceiptAuth {
  results: string;
  arc: 'none' | 'pass' | 'fail';
}

/** The DSN parameters of an envelope (and its SMTPUTF8 flag), as handed to a next hop. */
export type DsnParameters = Pick<QueueEnvelope, 'ret' | 'envid' | 'rcptDsn' | 'smtputf8' | 'tlsReport'>;

/** The gateway's view of the spool: the one call it needs before replying 250. */
export interface MessageSink {
  /** Resolves only once the message and envelope are durable (fsync + rename). */
  enqueue(envelope: QueueEnvelope, message: Buffer): Promise<{ id: string }>;
}

/** An SMTP reply from a next hop. */
export interface NextHopReply {
  code: number;
  enhanced?: string;
  text: string;
  /** Said by spamgate's client about the next hop (e.g. a size or extension it lacks), not by the next hop. */
  local?: true;
}

/**
 * The envelope sender for handing a message on to another domain (or, in front-of mode, to the upstream for
 * one): the BATV-signed sender for our own outgoing mail (src/batv/batv.ts), else the envelope's own.
 */
export type HandOffSender = (envelope: QueueEnvelope) => string;

/** Inline delivery: the client's DATA reply is the next hop's reply. */
export interface InlineForwarder {
  forward(envelope: QueueEnvelope, message: Buffer): Promise<NextHopReply>;
}
