// POP3 TRANSACTION state commands (RFC 1939 §5): STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP.
import type { Maildrop } from './maildrop.ts';
import { encodeMultiline, topOf, totalLength } from './wire.ts';

/** How a TRANSACTION command answers; the session owns the socket. */
export interface TransactionReplies {
  send(line: string): void;
  err(text: string): void;
  badCommand(text: string): void;
  sendMultiline(first: string, parts: readonly Buffer[]): Promise<void>;
  readFailed(n: number, err: unknown): void;
}

/** Runs one TRANSACTION-state command against the locked maildrop. */
export async function transactionCommand(drop: Maildrop, cmd: string, arg: string, reply: TransactionReplies): Promise<void> {
  const args = arg === '' ? [] : arg.split(' ');
  const msgArg = (): number | undefined => {
    const n = /^\d{1,9}$/.test(args[0] ?? '') ? Number(args[0]) : undefined;
    return n !== undefined && drop.get(n) ? n : undefined;
  };
  switch (cmd) {
    case 'STAT': {
      await drop.sizeAll();
      const { count, size } = drop.stat();
      return reply.send(`+OK ${count} ${size}`);
    }
    case 'LIST':
    case 'UIDL': {
      // RFC 6856 §2: LIST gives the size RETR sends (a downgraded message's own); UIDL needs no sizes
      const line = (n: number): string => `${n} ${cmd === 'LIST' ? drop.size(n) : drop.uidl(n)}`;
      if (args.length === 0) {
        if (cmd === 'LIST') await drop.sizeAll();
        return reply.send(['+OK', ...drop.numbers().map(line), '.'].join('\r\n'));
      }
      const n = msgArg();
      if (n === undefined || args.length > 1) return reply.err('no such message');
      if (cmd === 'LIST') await drop.sizeOf(n);
      return reply.send(`+OK ${line(n)}`);
    }
    case 'RETR':
    case 'TOP': {
      const n = msgArg();
      // RFC 1939 §7: lines is any non-negative number; more lines than the body has returns it whole.
      const lines = cmd === 'TOP' && /^\d+$/.test(args[1] ?? '') ? Number(args[1]) : undefined;
      if (cmd === 'TOP' && (lines === undefined || args.length !== 2)) return reply.badCommand('usage: TOP msg lines');
      if (cmd === 'RETR' && args.length !== 1) return reply.badCommand('usage: RETR msg');
      if (n === undefined) return reply.err('no such message');
      let raw: Buffer;
      try {
        raw = await drop.read(n, cmd === 'RETR');
      } catch (err) {
        reply.readFailed(n, err);
        return reply.err('[SYS/TEMP] message cannot be read (removed by another client?)');
      }
      const parts = encodeMultiline(lines === undefined ? raw : topOf(raw, lines));
      return reply.sendMultiline(`+OK ${drop.size(n) || totalLength(parts)} octets`, parts);
    }
    case 'DELE': {
      if (args.length !== 1) return reply.badCommand('usage: DELE msg');
      const n = msgArg();
      if (n === undefined) return reply.err('no such message');
      drop.delete(n);
      return reply.send(`+OK message ${n} deleted`);
    }
    case 'RSET': {
      drop.reset();
      await drop.sizeAll();
      const { count, size } = drop.stat();
      return reply.send(`+OK maildrop has ${count} messages (${size} octets)`);
    }
    case 'NOOP':
      return reply.send('+OK');
    default:
      return reply.badCommand(`${cmd} not valid in the TRANSACTION state`);
  }
}
