// Any-state and not-authenticated commands: CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE PLAIN, ID, ENABLE, NAMESPACE.
import { enableCondstore } from './condstore.ts';
import { str } from './encode.ts';
import type { Cursor } from './parser.ts';
import type { FramePart } from './reader.ts';
import type { Handler, Reply, Session } from './session.ts';

const ok = (text: string): Reply => ({ status: 'OK', text });
const no = (text: string): Reply => ({ status: 'NO', text });
const bad = (text: string): Reply => ({ status: 'BAD', text });

async function login(s: Session, user: string, pass: string): Promise<Reply> {
  const { ctx } = s;
  // The attempt counts against the limits while it is verified: parallel sessions cannot outrun them.
  if (!(await ctx.throttle.begin(s.remoteIp, user))) {
    ctx.metrics.logins.inc({ result: 'throttled' });
    return no('[UNAVAILABLE] Too many failed logins; try again later');
  }
  let canonical: string | undefined;
  try {
    canonical = await ctx.opts.authenticate(user, pass);
  } catch (err) {
    ctx.throttle.abandon(s.remoteIp, user); // not the client's failure
    s.log.error('imap authenticate failed', { err });
    ctx.metrics.logins.inc({ result: 'error' });
    return no('[UNAVAILABLE] Authentication is unavailable');
  }
  ctx.throttle.settle(s.remoteIp, user, canonical !== undefined);
  if (!canonical) {
    ctx.metrics.logins.inc({ result: 'failure' });
    s.log.info('imap login failed', { user: user.slice(0, 100) });
    if (++s.authFailures >= 3) {
      s.send('* BYE Too many failed logins\r\n');
      s.close();
    }
    return no('[AUTHENTICATIONFAILED] Invalid credentials');
  }
  try {
    await ctx.opts.store.ensureUser(canonical);
  } catch (err) {
    s.log.error('imap ensureUser failed', { err, user: canonical });
    ctx.metrics.logins.inc({ result: 'error' });
    return no('[UNAVAILABLE] Mailbox unavailable');
  }
  ctx.metrics.logins.inc({ result: 'success' });
  ctx.opts.onLogin?.(canonical, s.remoteIp);
  s.user = canonical;
  s.state = 'auth';
  s.log.info('imap login', { user: canonical });
  return ok(`[CAPABILITY ${s.capabilities()}] Logged in`);
}

function decodePlain(b64: string): { user: string; pass: string } | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
  const parts = Buffer.from(b64, 'base64').toString('utf8').split('\u0000');
  if (parts.length !== 3) return undefined;
  const [authz = '', user = '', pass = ''] = parts;
  if (authz !== '' && authz !== user) return undefined; // no proxy authorization
  return { user, pass };
}

export const authHandlers: Record<string, Handler> = {
  async CAPABILITY(s, _tag, c) {
    c.end(); // RFC 3501 §9: commands without arguments take none
    s.send(`* CAPABILITY ${s.capabilities()}\r\n`);
    return ok('CAPABILITY completed');
  },
  async NOOP(s, _tag, c) {
    c.end();
    if (s.state === 'selected') await s.sync(true, true);
    return ok('NOOP completed');
  },
  async STARTTLS(s, tag, c) {
    c.end();
    if (s.state !== 'notauth') return bad('Already authenticated');
    if (s.secure || !s.ctx.secureContext) return bad('TLS not available');
    s.send(`${tag} OK Begin TLS negotiation now\r\n`);
    s.startTls();
    return { status: 'NONE' };
  },
  async LOGIN(s, _tag, c) {
    if (s.state !== 'notauth') return bad('Already authenticated');
    const user = c.astring();
    c.sp();
    const pass = c.astring();
    c.end();
    if (!s.authAllowed) return no('[PRIVACYREQUIRED] LOGIN is disabled without TLS; use STARTTLS'); // RFC 3501 §6.2.3
    return login(s, user, pass);
  },
  async AUTHENTICATE(s, tag, c) {
    if (s.state !== 'notauth') return bad('Already authenticated');
    const mech = c.atom().toUpperCase();
    if (mech !== 'PLAIN') return no('[CANNOT] Only AUTHENTICATE PLAIN is supported');
    if (!s.authAllowed) return no('[PRIVACYREQUIRED] Authentication is disabled without TLS; use STARTTLS');
    const finish = async (b64: string): Promise<Reply> => {
      if (b64 === '*') return bad('Authentication cancelled'); // RFC 3501 §6.2.2
      const creds = decodePlain(b64 === '=' ? '' : b64);
      if (!creds) return bad('Malformed PLAIN response');
      return login(s, creds.user, creds.pass);
    };
    if (c.peek() === ' ') {
      c.sp();
      const initial = c.atom();
      c.end();
      return finish(initial); // RFC 4959 SASL-IR
    }
    c.end();
    s.send('+ \r\n');
    s.continuation = async (parts: FramePart[]) => {
      const line = typeof parts[0] === 'string' ? parts[0].trim() : '';
      const reply = await finish(line);
      if (reply.status !== 'NONE') s.send(`${tag} ${reply.status} ${reply.text}\r\n`);
    };
    return { status: 'NONE' };
  },
  async ID(s, _tag, c) {
    // RFC 2971 §4: "ID" SP ("(" string SP nstring *(SP string SP nstring) ")" / nil)
    if (c.peek() === '(') c.list(() => c.nstring());
    else if (c.atom().toUpperCase() !== 'NIL') return bad('ID takes a list or NIL');
    c.end();
    s.send(`* ID (${str('name')} ${str('spamgate')} ${str('vendor')} ${str('spamgate')})\r\n`); // RFC 2971 §3.1
    return ok('ID completed');
  },
  async ENABLE(s, _tag, c: Cursor) {
    if (s.state === 'notauth') return bad('Log in first');
    if (c.atEnd()) return bad('ENABLE needs a capability'); // RFC 5161 §3.1: 1*(SP capability)
    const enabled = new Set<string>();
    for (let i = 0; i < 100 && !c.atEnd(); i++) {
      const cap = c.atom().toUpperCase();
      if (cap === 'CONDSTORE' || cap === 'QRESYNC' || cap === 'UTF8=ACCEPT' || cap === 'IMAP4REV2') enabled.add(cap === 'IMAP4REV2' ? 'IMAP4rev2' : cap); // RFC 7162 §3.1, §3.2.3; RFC 6855 §3; RFC 9051 §6.3.1
      if (!c.atEnd()) c.sp();
    }
    c.end();
    // RFC 6855 §3: ENABLE UTF8=ACCEPT MUST only be used in the authenticated state; names and strings the client
    // already holds from the selected mailbox would change their form under it
    if (enabled.has('UTF8=ACCEPT') && s.state === 'selected') return bad('ENABLE UTF8=ACCEPT is only allowed before SELECT; CLOSE or UNSELECT first');
    // RFC 9051 §6.3.1: IMAP4rev2 likewise changes names to UTF-8 (§5.1) and drops \Recent, so it too comes before SELECT
    if (enabled.has('IMAP4rev2') && s.state === 'selected') return bad('ENABLE IMAP4rev2 is only allowed before SELECT; CLOSE or UNSELECT first');
    if (enabled.has('UTF8=ACCEPT')) s.utf8 = true;
    if (enabled.has('IMAP4rev2')) {
      s.rev2 = true;
      s.utf8 = true; // RFC 9051 §5.1: mailbox names are UTF-8, never modified UTF-7; quoted strings may hold UTF-8
    }
    if (enabled.has('QRESYNC')) s.qresync = true; // RFC 7162 §3.2.3: implies CONDSTORE
    if (enabled.has('CONDSTORE') || enabled.has('QRESYNC')) await enableCondstore(s);
    s.send(`* ENABLED${[...enabled].map((x) => ' ' + x).join('')}\r\n`); // RFC 5161 §3.1: those newly or already on, unknown ones left out
    return ok('ENABLE completed');
  },
  async NAMESPACE(s, _tag, c) {
    c.end();
    if (s.state === 'notauth') return bad('Log in first');
    s.send('* NAMESPACE (("" "/")) NIL NIL\r\n'); // RFC 2342 §5
    return ok('NAMESPACE completed');
  },
};
