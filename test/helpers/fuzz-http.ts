// HTTP-aware fuzzing of the rspamd scan listener (spamd.http_listen): valid requests as rspamc, Exim and Haraka
// send them (/checkv2 with the envelope in From, Rcpt, IP, Helo, User, Queue-Id, Pass, Settings headers; /ping;
// a chunked body; the legacy RSPAMC line) broken in their request line, their framing (Content-Length too short,
// too long, negative, huge or twice; Transfer-Encoding odd or beside a Content-Length; chunk sizes wrong, huge or
// not hex), their rspamd headers (garbage, control bytes, over-long, repeated) and their bodies. Each request goes
// on a fresh connection (fuzz-request.ts); what comes back must be an HTTP response — a 4xx/5xx with rspamd's
// {"error": …} — or, for the legacy line, an RSPAMD/1.x answer; a close without a word is a finding.
import type { RequestTarget } from './fuzz-request.ts';
import { mutate as mutateLine, type Rng } from './fuzz-mutate.ts';

const MESSAGE =
  'Received: from mail.sender.example (mail.sender.example [198.51.100.7])\r\n\tby mx.example.test (Postfix) with ESMTP id 4Abc;\r\n\tSun, 22 Nov 2026 00:00:00 +0000\r\n' +
  'From: Sender <news@sender.example>\r\nTo: user@example.test\r\nSubject: monthly news\r\nDate: Sun, 22 Nov 2026 00:00:00 +0000\r\nMessage-ID: <m1@sender.example>\r\n\r\nHello, nothing here.\r\n';

interface Req {
  line: string;
  headers: [string, string][];
  body: string;
  chunked: boolean;
}

const ENVELOPE: [string, string][] = [
  ['IP', '198.51.100.7'],
  ['Helo', 'mail.sender.example'],
  ['Hostname', 'mail.sender.example'],
  ['From', '<news@sender.example>'],
  ['Rcpt', '<user@example.test>'],
  ['Rcpt', '<"john doe"@example.test>'],
  ['User', 'alice'],
  ['Queue-Id', '4Abc'],
  ['Deliver-To', 'user@example.test'],
  ['Pass', 'all'],
  ['Settings', '{"actions": {"reject": 15}}'],
  ['Settings-ID', 'strict'],
];

const REQUESTS: readonly Req[] = [
  { line: 'POST /checkv2 HTTP/1.1', headers: [['Host', 'localhost'], ...ENVELOPE], body: MESSAGE, chunked: false },
  { line: 'POST /checkv2 HTTP/1.1', headers: [['Host', 'localhost'], ['From', '<>'], ['Rcpt', 'a@example.test, b@example.test']], body: MESSAGE, chunked: true },
  { line: 'POST /checkv2 HTTP/1.0', headers: [['IP', '[IPv6:2001:db8::1]'], ['Helo', '[198.51.100.7]']], body: MESSAGE, chunked: false },
  { line: 'GET /ping HTTP/1.1', headers: [['Host', 'localhost']], body: '', chunked: false },
  { line: 'HEAD /ping HTTP/1.1', headers: [], body: '', chunked: false },
  { line: 'POST /learnspam HTTP/1.1', headers: [['Host', 'localhost']], body: MESSAGE, chunked: false },
  { line: 'POST /checkv2?x=1&y HTTP/1.1', headers: [['Host', 'localhost'], ['Connection', 'keep-alive']], body: MESSAGE, chunked: false },
];

const LEGACY_COMMANDS = ['CHECK', 'SYMBOLS', 'REPORT', 'REPORT_IFSPAM', 'PROCESS'];
/** The legacy line-protocol request Exim's variant=rspamd sends (answered on the same listener). */
const LEGACY = `CHECK RSPAMC/1.3\r\nContent-length: ${Buffer.byteLength(MESSAGE, 'latin1')}\r\nIP: 198.51.100.7\r\nFrom: <news@sender.example>\r\nRcpt: <user@example.test>\r\n\r\n${MESSAGE}`;

function encodeReq(r: Req, lengthOverride?: string): Buffer {
  const heads = [...r.headers];
  if (r.chunked) heads.push(['Transfer-Encoding', 'chunked']);
  else if (r.body !== '' || r.line.startsWith('POST')) heads.push(['Content-Length', lengthOverride ?? String(Buffer.byteLength(r.body, 'latin1'))]);
  const body = r.chunked ? chunks(r.body, [37, 4096]) : r.body;
  return Buffer.from(`${r.line}\r\n${heads.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n${body}`, 'latin1');
}

function chunks(body: string, sizes: number[]): string {
  let out = '';
  let at = 0;
  for (const n of sizes) {
    if (at >= body.length) break;
    const part = body.slice(at, at + n);
    out += `${part.length.toString(16)}\r\n${part}\r\n`;
    at += n;
  }
  if (at < body.length) out += `${(body.length - at).toString(16)}\r\n${body.slice(at)}\r\n`;
  return `${out}0\r\n\r\n`;
}

const GARBAGE = ['', ' ', '\0', '\x7f', '\xff\xfe', 'x'.repeat(300), '<'.repeat(50), '<a@b>, <c@d>', '"', '"unterminated@x', '256.1.1.1', '::ffff:1.2.3.4', '1.2.3', '[IPv6:zz]', '{"bad json', '-1', '1e999', '%00', '\t', 'a'.repeat(9000), '<@>', '@', '<a@b>\r\nX-Injected: 1'];
const RSPAMD_HEADERS = ['From', 'Rcpt', 'IP', 'Helo', 'Hostname', 'User', 'Queue-Id', 'Pass', 'Settings', 'Settings-ID', 'Deliver-To', 'Content-Encoding', 'Compression', 'Expect', 'Connection', 'Host'];
const LENGTHS = ['0', '1', '-1', '+5', ' 12', '0x10', '1e3', '4294967296', '18446744073709551616', '99999999999999999999999', 'abc', '5, 5', '', '00000000000000000000001'];
const CHUNK_SIZES = ['0', 'ffffffffffffffff', '1' + '0'.repeat(20), 'zz', '-1', '5;ext=1', '5 ', '', '7fffffff', '10000000'];
const TE = ['chunked', 'gzip, chunked', 'chunked, chunked', 'identity', 'CHUNKED', ' chunked', 'chunked;q=1', 'xchunked', 'gzip', ''];
const LINES = ['POST /checkv2 HTTP/1.1', 'POST /checkv2 HTTP/9.9', 'POST /checkv2', 'POST  /checkv2 HTTP/1.1', 'post /checkv2 HTTP/1.1', 'PUT /checkv2 HTTP/1.1', 'GET /checkv2 HTTP/1.1', 'POST /%2e%2e/checkv2 HTTP/1.1', 'POST //checkv2 HTTP/1.1', 'POST http://x/checkv2 HTTP/1.1', 'POST * HTTP/1.1', 'OPTIONS * HTTP/1.1', 'CONNECT x:1 HTTP/1.1', 'POST /checkv2\0 HTTP/1.1', 'POST /' + 'a'.repeat(20000) + ' HTTP/1.1', 'GET /ping?' + '&'.repeat(5000) + ' HTTP/1.1', 'CHECK RSPAMC/1.3', 'CHECK RSPAMC/1.', 'SYMBOLS RSPAMC/1.99', 'PROCESS RSPAMC/1.3\r'];

type HttpMutator = (r: Req, rng: Rng) => Buffer;

const MUTATORS: readonly HttpMutator[] = [
  // the request line
  (r, rng) => encodeReq({ ...r, line: rng.pick(LINES) }),
  // a wrong Content-Length
  (r, rng) => encodeReq({ ...r, chunked: false }, rng.pick(LENGTHS)),
  // Content-Length twice (differing) or beside Transfer-Encoding
  (r, rng) => encodeReq({ ...r, headers: [...r.headers, rng.int(2) ? ['Content-Length', rng.pick(LENGTHS)] : ['Transfer-Encoding', rng.pick(TE)]] }),
  // an odd Transfer-Encoding
  (r, rng) => encodeReq({ ...r, chunked: false, headers: [...r.headers, ['Transfer-Encoding', rng.pick(TE)]] }, undefined).subarray(0),
  // wrong chunk sizes
  (r, rng) => {
    const head = encodeReq({ ...r, body: '', chunked: false, headers: [...r.headers, ['Transfer-Encoding', 'chunked']] }).toString('latin1').replace(/Content-Length: \d+\r\n/, '');
    const size = rng.pick(CHUNK_SIZES);
    const tail = rng.pick(['\r\n', '\r\n0\r\n\r\n', '', '0\r\n\r\n', '\r\n0\r\nX-Trailer: 1\r\n\r\n', '\n0\n\n']);
    return Buffer.from(`${head}${size}\r\n${MESSAGE.slice(0, 1 + rng.int(100))}${tail}`, 'latin1');
  },
  // an rspamd header with garbage (replaced, or added again)
  (r, rng) => {
    const name = rng.pick(RSPAMD_HEADERS);
    const value = rng.pick(GARBAGE);
    const headers: [string, string][] = rng.int(2) ? r.headers.map(([n, v]) => [n, n === name ? value : v]) : [...r.headers, [name, value]];
    return encodeReq({ ...r, headers });
  },
  // many Rcpt headers, or one huge list
  (r, rng) => encodeReq({ ...r, headers: [...r.headers, ...(rng.int(2) ? Array.from({ length: 1200 }, (_, k): [string, string] => ['Rcpt', `r${k}@x.example`]) : [['Rcpt', Array.from({ length: 1500 }, (_, k) => `r${k}@x.example`).join(',')] as [string, string]])] }),
  // a header line without a colon, folded, with bare LF or CR, or a huge one
  (r, rng) => {
    const text = encodeReq(r).toString('latin1');
    const odd = rng.pick(['NoColon\r\n', ' folded: continuation\r\n', 'X-A: 1\nX-B: 2\r\n', 'X-C: a\rb\r\n', `X-Big: ${'b'.repeat(20_000)}\r\n`, ': empty-name\r\n', 'X\0Y: 1\r\n']);
    return Buffer.from(text.replace('\r\n', `\r\n${odd}`), 'latin1');
  },
  // the body mutated, its length kept as announced
  (r, rng) => {
    const body = mutateLine(Buffer.from(r.body || MESSAGE, 'latin1'), rng).toString('latin1');
    return encodeReq({ ...r, body });
  },
  // the request cut short anywhere
  (r, rng) => {
    const whole = encodeReq(r);
    return whole.subarray(0, rng.int(whole.length));
  },
  // the legacy request, cut or mutated
  (_r, rng) => (rng.int(2) ? mutateLine(Buffer.from(LEGACY, 'latin1'), rng) : Buffer.from(LEGACY, 'latin1').subarray(0, rng.int(LEGACY.length))),
  // the generic line mutators over the whole request
  (r, rng) => mutateLine(encodeReq(r), rng),
];

/** One mutated request from corpus entry `base` (an index into REQUESTS, as text). */
export function mutateHttp(base: Buffer, rng: Rng): Buffer {
  const r = REQUESTS[Number(base.toString('latin1'))] ?? (REQUESTS[0] as Req);
  return rng.pick(MUTATORS)(r, rng);
}

/**
 * One HTTP/1.x response and nothing after it (one request per connection): a status line, a head, a body of its
 * Content-Length (none for HEAD); a 4xx/5xx carries rspamd's {"error": …}.
 */
function badHttp(text: string, head: boolean): string | undefined {
  const m = /^HTTP\/1\.[01] (\d{3}) [^\r\n]*\r\n/.exec(text);
  if (!m) return `not an HTTP response: ${JSON.stringify(text.slice(0, 200))}`;
  const status = Number(m[1]);
  const split = text.indexOf('\r\n\r\n');
  if (split < 0) return `response head not ended: ${JSON.stringify(text.slice(0, 200))}`;
  const length = /\r\ncontent-length: *(\d+)\r\n/i.exec(text.slice(0, split + 2))?.[1];
  if (length === undefined) return `response without Content-Length: ${JSON.stringify(text.slice(0, 300))}`;
  // a HEAD's answer has no body, but an error about a request not read as HEAD (malformed) may carry one
  const whole = text.length === split + 4 + Number(length);
  const body = text.slice(split + 4, split + 4 + (head && !whole ? 0 : Number(length)));
  const after = text.slice(split + 4 + body.length);
  if (after !== '') return `more after the response: ${JSON.stringify(after.slice(0, 200))}`;
  if (status >= 400 && body === '' && !head) return `${status} without rspamd's error text`;
  if (status >= 400 && body !== '') {
    try {
      const v = JSON.parse(body) as { error?: unknown };
      if (typeof v.error !== 'string') return `${status} without an error text: ${JSON.stringify(body.slice(0, 200))}`;
    } catch {
      return `${status} whose body is not JSON: ${JSON.stringify(body.slice(0, 200))}`;
    }
  }
  return undefined;
}

export function rspamdHttpTarget(port: number): RequestTarget {
  return {
    name: 'rspamd-http',
    port,
    corpus: REQUESTS.map((_, i) => Buffer.from(String(i))),
    mutate: mutateHttp,
    check(reply, sent) {
      const text = reply.toString('latin1');
      // the legacy protocol answers in its own words (or an HTTP-style error when its head is bad)
      if (/^(CHECK|SYMBOLS|REPORT|REPORT_IFSPAM|PROCESS) RSPAMC\//.test(sent.toString('latin1')) && /^RSPAMD\/1\.\d+ \d+ [^\r\n]*\r\n/.test(text)) return undefined;
      // nothing sent (or half a legacy request line, then the close): nothing to answer
      const s = sent.toString('latin1');
      if (text === '' && (s.trim() === '' || LEGACY_COMMANDS.some((c) => `${c} RSPAMC/1.`.startsWith(s) || new RegExp(`^${c} RSPAMC/1\\.\\d{1,2}\r?$`).test(s)))) return undefined;
      return badHttp(text, /^HEAD /.test(sent.toString('latin1')));
    },
    probe: Buffer.from(`POST /checkv2 HTTP/1.1\r\nHost: localhost\r\nIP: 198.51.100.7\r\nFrom: <news@sender.example>\r\nRcpt: <user@example.test>\r\nContent-Length: ${Buffer.byteLength(MESSAGE, 'latin1')}\r\n\r\n${MESSAGE}`, 'latin1'),
    probeOk: (reply) => /^HTTP\/1\.1 200 [^\r]*\r\n[\s\S]*\r\n\r\n\{[\s\S]*"action"/.test(reply.toString('latin1')),
  };
}
