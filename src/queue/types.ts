// Envelope and verdict data that travel with a message through the spool to delivery.

/** What the gateway decided, carried to delivery (junk routing, subject rewrite already applied). */
export interface QueuedVerdict {
  action: string;
  score: number;
  /** Recipients whose copy goes to the Junk folder (full-stack mode). */
  junkRecipients?: string[];
}

export interface QueueEnvelope {
  /** Reverse path; '' is the null sender (never bounced to). */
  mailFrom: string;
  rcptTo: string[];
  /** Gateway session id, for logs. */
  sessionId: string;
  clientIp: string;
  /** ms since epoch when the message was accepted. */
  receivedAt: number;
  /** RFC 3461 ENVID / RET, if given. */
  envid?: string;
  verdict?: QueuedVerdict;
  /** The message came in authenticated (submission): relaying to remote recipients is allowed. */
  authUser?: string;
}

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
}

/** Inline delivery: the client's DATA reply is the next hop's reply. */
export interface InlineForwarder {
  forward(envelope: QueueEnvelope, message: Buffer): Promise<NextHopReply>;
}
