// The milter's "refused" log lines: a MAIL or RCPT the milter refused (a reply code or tempfail to the MTA) is
// logged at info in the SMTP listener's shape (session, client, HELO, command, address, symbol, reply). The MTA,
// not spamgate, ends its client's session, so the lines are bounded here as the SMTP listener bounds them with
// smtp.max_bad_commands: at most that many per milter session since its last accepted message; those past the
// bound are counted and said in one line when the count starts again.
import type { SessionInfo } from '../checks/types.ts';
import type { SmtpError } from '../smtp/smtp-error.ts';
import type { Logger } from '../util/logger.ts';

export interface Refusal {
  command: 'MAIL' | 'RCPT';
  address: string;
  err: SmtpError;
}

export class RefusalLog {
  private logged = 0;
  private unlogged = 0;
  private last: { log: Logger; session: string } | undefined;

  /** `limit` is read at each refusal (smtp.max_bad_commands of the snapshot in force). */
  constructor(private readonly limit: () => number) {}

  /** Logs the refusal with `log` (the MTA's queue id on it when known), unless the bound is reached. */
  refused(log: Logger, info: Readonly<SessionInfo>, refusal: Refusal): void {
    this.last = { log, session: info.id };
    if (this.logged >= this.limit()) {
      this.unlogged++;
      return;
    }
    this.logged++;
    log.info('refused', {
      listener: 'milter',
      session: info.id,
      client_ip: info.clientIp,
      ...(info.clientHostname ? { client_name: info.clientHostname } : {}),
      ...(info.helo ? { helo: info.helo } : {}),
      command: refusal.command,
      address: refusal.address,
      ...(refusal.err.symbol ? { symbol: refusal.err.symbol } : {}),
      reply: refusal.err.toString(),
    });
  }

  /** A message was accepted, or the session ended: the count starts again (the refusals not logged are said). */
  reset(): void {
    if (this.unlogged > 0 && this.last) {
      this.last.log.info('refusals not logged', { listener: 'milter', session: this.last.session, count: this.unlogged, limit: this.limit() });
    }
    this.logged = 0;
    this.unlogged = 0;
    this.last = undefined;
  }
}
