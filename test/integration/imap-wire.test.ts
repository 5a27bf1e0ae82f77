// Raw IMAP on a Maildir another program filled: SELECT without reading dates, FETCH of metadata (INTERNALDATE read on
// demand, \Recent for the claiming session only), SEARCH on cached fields and dates, flag changes announced to others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { utimes, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { startImap } from './imap-harness.ts';

const USER = 'alice@example.org';

/** Sends tagged commands and returns everything up to the tagged reply. */
class Wire {
  private buf = '';
  private n = 0;
  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (this.buf += d));
  }
  static async open(port: number): Promise<Wire> {
    const sock = connect(port, '127.0.0.1');
    await new Promise<void>((r, j) => sock.once('connect', r).once('error', j));
    const w = new Wire(sock);
    await w.until((b) => b.includes('\r\n'));
    w.buf = '';
    return w;
  }
  private async until(done: (buf: string) => boolean): Promise<void> {
    for (let i = 0; i < 500 && !done(this.buf); i++) await new Promise((r) => setTimeout(r, 10));
    if (!done(this.buf)) throw new Error(`no reply: ${this.buf}`);
  }
  async cmd(text: string): Promise<string> {
    const tag = `t${++this.n}`;
    this.buf = '';
    this.sock.write(`${tag} ${text}\r\n`);
    await this.until((b) => new RegExp(`(^|\\r\\n)${tag} (OK|NO|BAD)[^\\r]*\\r\\n$`).test(b));
    const out = this.buf;
    assert.match(out, new RegExp(`${tag} OK`), `${text} → ${out}`);
    return out;
  }
  close(): void {
    this.sock.destroy();
  }
}

/** Two sessions logged in as USER, closed after the test. */
async function twoSessions(port: number, t: { after(fn: () => void): void }): Promise<[Wire, Wire]> {
  const a = await Wire.open(port);
  const b = await Wire.open(port);
  t.after(() => {
    a.close();
    b.close();
  });
  await a.cmd(`LOGIN ${USER} wonderland`);
  await b.cmd(`LOGIN ${USER} wonderland`);
  return [a, b];
}

test('a foreign Maildir: SELECT, metadata FETCH, cached-field and date SEARCH, flag changes seen by another session', async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  const md = h.store.maildirOf(USER);
  const files: [string, string, string, number][] = [
    ['cur', '1622505600.M1P1.h,S=60', 'Quarterly report', Date.UTC(2021, 5, 1)],
    ['new', '1622592000.M2P1.h,S=60', '=?utf-8?q?Quarterly_report?=', Date.UTC(2021, 5, 2)],
    ['new', '1622678400.M3P1.h,S=60', 'lunch', Date.UTC(2021, 5, 3)],
  ];
  const text = (subject: string): string => `From: Ann <ann@example.net>\nSubject: ${subject}\n\nhello\n`;
  for (const [sub, name, subject, date] of files) {
    const file = join(md, sub, sub === 'cur' ? `${name}:2,S` : name);
    await writeFile(file, text(subject));
    await utimes(file, date / 1000, date / 1000);
  }
  const crlfSize = text('Quarterly report').replace(/\n/g, '\r\n').length; // Unix line ends count as CRLF
  const [a, b] = await twoSessions(h.port, t);
  const selected = await a.cmd('SELECT INBOX');
  assert.match(selected, /\* 3 EXISTS\r\n\* 2 RECENT\r\n\* OK \[UNSEEN 2\]/);
  assert.match(selected, /UIDNEXT 4\]/);
  const fetched = await a.cmd('FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)');
  const lines = fetched.split('\r\n').filter((l) => l.startsWith('* '));
  assert.equal(lines.length, 3);
  assert.ok((lines[0] ?? '').startsWith(`* 1 FETCH (UID 1 FLAGS (\\Seen) INTERNALDATE " 1-Jun-2021 00:00:00 +0000" RFC822.SIZE ${crlfSize} ENVELOPE (NIL "Quarterly report" (("Ann" NIL "ann" "example.net"))`), lines[0]);
  assert.match(lines[1] ?? '', /^\* 2 FETCH \(UID 2 FLAGS \(\\Recent\) INTERNALDATE " 2-Jun-2021 00:00:00 \+0000"/);
  assert.match(await a.cmd('UID SEARCH SUBJECT REPORT'), /\* SEARCH 1 2\r\n/, 'the encoded word is decoded before matching');
  assert.match(await a.cmd('UID SEARCH NOT SUBJECT report'), /\* SEARCH 3\r\n/);
  assert.match(await a.cmd('UID SEARCH SINCE 2-Jun-2021 UNSEEN'), /\* SEARCH 2 3\r\n/);
  assert.match(await a.cmd('UID SEARCH RECENT'), /\* SEARCH 2 3\r\n/);
  assert.match(await b.cmd('SELECT INBOX'), /\* 0 RECENT\r\n/, 'claimed by the first session');
  assert.match(await b.cmd('UID STORE 2 +FLAGS.SILENT (\\Flagged)'), /OK/);
  assert.match(await a.cmd('NOOP'), /\* 2 FETCH \(UID 2 FLAGS \(\\Flagged \\Recent\)\)\r\n/);
  assert.doesNotMatch(await a.cmd('NOOP'), /FETCH/, 'told once');
  assert.match(await b.cmd('FETCH 2 (FLAGS)'), /\* 2 FETCH \(FLAGS \(\\Flagged\)\)/);
});

test('a STORE that adds a keyword new to the mailbox sends FLAGS and PERMANENTFLAGS naming it first, once', async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  await h.store.append(USER, 'INBOX', Buffer.from('Subject: kw\r\n\r\nbody\r\n'), { flags: ['Work'] });
  const a = await Wire.open(h.port);
  t.after(() => a.close());
  await a.cmd(`LOGIN ${USER} wonderland`);
  assert.match(await a.cmd('SELECT INBOX'), /\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft Work\)\r\n/);
  const stored = await a.cmd('STORE 1 +FLAGS ($Important)');
  assert.match(stored, /\* FLAGS \([^)]*Work \$Important\)\r\n\* OK \[PERMANENTFLAGS \([^)]*\$Important \\\*\)\][^\r]*\r\n\* 1 FETCH \(FLAGS \(Work \$Important \\Recent\)\)/);
  assert.doesNotMatch(await a.cmd('STORE 1 +FLAGS ($Important \\Seen)'), /\* FLAGS/, 'already told');
});

test('a keyword another session adds is named in FLAGS before the FETCH that shows it', async (t) => {
  const h = await startImap(t);
  await h.store.ensureUser(USER);
  await h.store.append(USER, 'INBOX', Buffer.from('Subject: kw\r\n\r\nbody\r\n'));
  const [a, b] = await twoSessions(h.port, t);
  await a.cmd('SELECT INBOX');
  await b.cmd('SELECT INBOX');
  await b.cmd('STORE 1 +FLAGS ($Custom)');
  assert.match(await a.cmd('NOOP'), /\* FLAGS \([^)]*\$Custom\)\r\n\* OK \[PERMANENTFLAGS [^\r]*\r\n\* 1 FETCH \(UID 1 FLAGS \(\$Custom \\Recent\)\)/);
  // a message that arrives with a new keyword
  await h.store.append(USER, 'INBOX', Buffer.from('Subject: kw2\r\n\r\nbody\r\n'), { flags: ['Later'] });
  const arrived = await a.cmd('NOOP');
  assert.match(arrived, /\* 2 EXISTS\r\n/);
  assert.match(arrived, /\* FLAGS \([^)]*\$Custom Later\)\r\n/, 'named before any FETCH of the new message can show it');
});
