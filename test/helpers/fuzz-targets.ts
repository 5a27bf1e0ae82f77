// Protocol adapters for the fuzz driver: how to open a ready session, frame a mutated command, probe, and judge
// the replies' syntax for IMAP (RFC 9051 §7), POP3 (RFC 1939 §3), SMTP (RFC 5321 §4.2) and ManageSieve (RFC 5804 §4).
import { FuzzConn, type FuzzTarget } from './fuzz-drive.ts';

const CRLF = Buffer.from('\r\n');
const withCrlf = (b: Buffer, prefix = ''): Buffer => Buffer.concat([Buffer.from(prefix, 'latin1'), b, CRLF]);
/** An announced literal ({n}, {n+}, ~{n}) the server may rightly wait for. */
const LITERAL = /\{\d+\+?\}/;

/** Splits text into response lines, a `{n}` at a line end taking the next n octets into the same line. */
function imapLines(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n', at);
    if (end < 0) break; // an incomplete last line is not judged
    cur += text.slice(at, end);
    at = end + 2;
    const lit = /\{(\d+)\}$/.exec(cur);
    if (lit) {
      const n = Number(lit[1]);
      cur += `\r\n${text.slice(at, at + n)}`;
      at += n;
      continue;
    }
    out.push(cur);
    cur = '';
  }
  return out;
}

/** Bare CR, LF or NUL outside literals break every one of these protocols' line syntax. */
const badBytes = (line: string): boolean => /[\r\n\0]/.test(line.replace(/\{\d+\}\r\n[\s\S]*$/, ''));

export function imapTarget(port: number, login: string, opts: { select?: string } = {}): FuzzTarget {
  const tagged = (i: number): RegExp => new RegExp(`(^|\\r\\n)F${i} (OK|NO|BAD)[ \\r]`);
  return {
    name: 'imap',
    async open() {
      const c = await FuzzConn.open(port);
      await c.until((t) => t.includes('\r\n'), 10_000);
      await c.step(`L ${login}`, /(^|\r\n)L OK/);
      if (opts.select) await c.step(`S SELECT ${opts.select}`, /(^|\r\n)S OK/);
      return c;
    },
    frame: (m, i) => withCrlf(m, `F${i} `),
    probe: (i) => `tNOOP${i} NOOP\r\n`,
    probeDone: (t, i) => new RegExp(`(^|\\r\\n)tNOOP${i} OK[^\\r]*\\r\\n`).test(t),
    check(text, sent, i) {
      for (const line of imapLines(text)) {
        if (badBytes(line)) return `bare CR/LF/NUL in response line ${JSON.stringify(line.slice(0, 200))}`;
        // RFC 9051 §7: untagged "* ", continuation "+", or a tagged status; a tag is ASTRING-CHARs but '+' (']' allowed)
        if (!/^(\* \S|\+( |$)|[^\s+(){%*"\\\x00-\x1f\x7f]+ (OK|NO|BAD)( |$))/.test(line)) return `not an IMAP response line: ${JSON.stringify(line.slice(0, 200))}`;
      }
      const one = sent.subarray(0, sent.length - 2);
      const plain = !/[\r\n]/.test(one.toString('latin1')) && !LITERAL.test(one.toString('latin1'));
      if (plain && !tagged(i).test(text) && !/(^|\r\n)\* (BAD|BYE)/.test(text)) return `no tagged reply to F${i}: ${JSON.stringify(text.slice(0, 300))}`;
      return undefined;
    },
    closedWithReason: (t) => /(^|\r\n)\* BYE /.test(t),
    // a SASL challenge or IDLE's "+ idling": cancel it, then probe again
    nudge: (t, i) => (/(^|\r\n)\+[^\r]*\r\n$/.test(t) && !LITERAL.test(t.slice(-40)) ? `DONE\r\n*\r\ntNOOP${i} NOOP\r\n` : undefined),
    mayWait: (sent) => LITERAL.test(sent.toString('latin1')) || /IDLE|AUTHENTICATE|APPEND/i.test(sent.toString('latin1')),
  };
}

export function pop3Target(port: number, user: string, pass: string): FuzzTarget {
  return {
    name: 'pop3',
    async open() {
      const c = await FuzzConn.open(port);
      await c.until((t) => t.includes('\r\n'), 10_000);
      await c.step(`USER ${user}`, /^\+OK/);
      await c.step(`PASS ${pass}`, /^\+OK/);
      return c;
    },
    frame: (m) => withCrlf(m),
    probe: () => 'NOOP\r\n',
    probeDone: (t) => /(^|\r\n)\+OK\r\n$/.test(t),
    check(text) {
      // RFC 1939 §3: status lines start "+OK" or "-ERR"; a +OK line followed by other lines opens a multi-line
      // response that ends with "." alone
      const lines = text.split('\r\n').slice(0, -1);
      let multi = false;
      for (const [n, line] of lines.entries()) {
        if (multi) {
          if (line === '.') multi = false;
          continue;
        }
        if (/[\r\n\0]/.test(line)) return `bare CR/LF/NUL in ${JSON.stringify(line.slice(0, 200))}`;
        if (!/^(\+OK|-ERR)( |$)|^\+( |$)/.test(line)) return `not a POP3 status line: ${JSON.stringify(line.slice(0, 200))}`;
        const next = lines[n + 1];
        if (line.startsWith('+OK') && next !== undefined && !/^(\+OK|-ERR)( |$)/.test(next)) multi = true;
      }
      return undefined;
    },
    closedWithReason: (t) => /(^|\r\n)(-ERR|\+OK)[^\r]*\r\n$/.test(t),
    nudge: (t) => (/(^|\r\n)\+ [^\r]*\r\n$/.test(t) ? '*\r\nNOOP\r\n' : undefined),
    mayWait: () => false,
  };
}

export function smtpTarget(port: number, opts: { auth?: string } = {}): FuzzTarget {
  return {
    name: 'smtp',
    async open() {
      const c = await FuzzConn.open(port);
      await c.until((t) => /(^|\r\n)220 [^\r]*\r\n/.test(t), 10_000);
      await c.step('EHLO fuzz.test.example', /(^|\r\n)250 [^\r]*\r\n$/);
      if (opts.auth) await c.step(`AUTH PLAIN ${opts.auth}`, /(^|\r\n)235 [^\r]*\r\n$/);
      return c;
    },
    frame: (m) => withCrlf(m),
    probe: () => 'NOOP\r\n',
    probeDone: (t) => /(^|\r\n)250 (2\.0\.0 )?OK\r\n$/.test(t),
    check(text) {
      // RFC 5321 §4.2: every reply line is a three-digit code, then "-" (more lines follow) or " " / the line end
      for (const line of text.split('\r\n').slice(0, -1)) {
        if (/[\n\0]/.test(line) || !/^[2-5]\d\d([ -]|$)/.test(line)) return `not an SMTP reply line: ${JSON.stringify(line.slice(0, 200))}`;
      }
      return undefined;
    },
    closedWithReason: (t) => /(^|\r\n)(421|221|554)[ -][^\r]*\r\n$/.test(t),
    // DATA's 354: end the message (the probe went into it); a SASL challenge (334): cancel it
    // (or the probe itself was taken as the SASL answer and refused: probe again)
    nudge: (t) =>
      /(^|\r\n)354[^\r]*\r\n$/.test(t) ? '\r\n.\r\nNOOP\r\n' : /(^|\r\n)334[^\r]*\r\n$/.test(t) ? '*\r\nNOOP\r\n' : /(^|\r\n)334[^\r]*\r\n5\d\d [^\r]*\r\n$/.test(t) ? 'NOOP\r\n' : undefined,
    mayWait: (sent) => /BDAT/i.test(sent.toString('latin1')),
  };
}

export function sieveTarget(port: number, auth: string): FuzzTarget {
  return {
    name: 'managesieve',
    async open() {
      const c = await FuzzConn.open(port);
      await c.until((t) => /(^|\r\n)OK[^\r]*\r\n$/.test(t), 10_000);
      await c.step(`AUTHENTICATE "PLAIN" "${auth}"`, /(^|\r\n)OK[^\r]*\r\n$/);
      return c;
    },
    frame: (m) => withCrlf(m),
    probe: (i) => `NOOP "p${i}"\r\n`,
    probeDone: (t, i) => t.includes(`OK (TAG "p${i}")`) && t.endsWith('\r\n'),
    check(text) {
      // RFC 5804 §4: a response is OK/NO/BYE (with an optional code and string) after any number of data lines
      // made of strings, literals and atoms; '+ "…"' asks for a synchronizing literal's octets
      for (const line of imapLines(text)) {
        if (badBytes(line)) return `bare CR/LF/NUL in ${JSON.stringify(line.slice(0, 200))}`;
        if (!/^(OK|NO|BYE)( |$)|^["{]|^\+ "/.test(line)) return `not a ManageSieve response line: ${JSON.stringify(line.slice(0, 200))}`;
      }
      return undefined;
    },
    closedWithReason: (t) => /(^|\r\n)(BYE|OK)[^\r]*\r\n$/.test(t),
    // AUTHENTICATE's challenge ("" alone): cancel with "*"
    nudge: (t, i) => (/(^|\r\n)"[^"\r]*"\r\n$/.test(t) && !/(OK|NO)[^\r]*\r\n$/.test(t) ? `"*"\r\nNOOP "p${i}"\r\n` : undefined),
    mayWait: (sent) => LITERAL.test(sent.toString('latin1')),
  };
}
