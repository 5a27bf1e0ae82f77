// URI block list tests end to end: a front-of gateway delivering inline to a sink, resolving with a loopback dns2
// server that serves test lists of each kind (uri with codes, uri with bits, uri_ip, from_header). What was
// asked is read from the DNS server's query log; what hit, from X-Spamgate-Result on the delivered copy.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import type { Zones } from './dns-server.ts';
import { startGateway, type RunningGateway } from './gateway.ts';
import { startSink, type SinkServer } from './sink-server.ts';
import { SmtpWire, type Reply } from './smtp-wire.ts';

export const SENDER = 'news@sender.example';
export const RCPT = 'postmaster@localhost';

export const LISTS = `dnsbl:
  urib:
    zone: urib.test
    kind: uri
    codes:
      127.0.1.2: URIBL_TEST_SPAM
      127.0.1.4: URIBL_TEST_PHISH
  multi:
    zone: multi.test
    kind: uri
    test_point: test.surbl.test
    bits:
      2: URIBL_TEST_BLACK
      4: URIBL_TEST_GREY
      8: URIBL_TEST_RED
  ipbl:
    zone: ipbl.test
    kind: uri_ip
    codes:
      127.0.0.2: URIBL_TEST_IP
  fromhdr:
    zone: fromhdr.test
    kind: from_header
    codes:
      127.0.1.2: RHSBL_TEST_FROM_HDR
symbols:
  URIBL_TEST_SPAM: { weight: 4, description: "test uri list, spam domain" }
  URIBL_TEST_PHISH:
    weight: reject
    reply: "554 5.7.1 Message links to a listed domain ({options})"
    description: test uri list, phishing domain
  URIBL_TEST_BLACK: { weight: 3, description: "test bitmask list, black" }
  URIBL_TEST_GREY: { weight: 1, description: "test bitmask list, grey" }
  URIBL_TEST_RED: { weight: 0.5, description: "test bitmask list, red" }
  URIBL_TEST_IP: { weight: 2, description: "test uri_ip list" }
  RHSBL_TEST_FROM_HDR: { weight: 2.5, description: "test from_header list" }
`;

/** The lists' health test points (RFC 5782 §5; multi.test's own test_point), and SPF/FCrDNS for the client. */
export const BASE_ZONES: Zones = {
  'test.urib.test': [{ A: '127.0.1.2' }],
  'test.surbl.test.multi.test': [{ A: '127.0.0.14' }],
  '2.0.0.127.ipbl.test': [{ A: '127.0.0.2' }],
  'test.fromhdr.test': [{ A: '127.0.1.2' }],
  'sender.example': [{ TXT: 'v=spf1 ip4:127.0.0.1 -all' }, { MX: [10, 'mx.sender.example'] }],
};

export interface Running {
  gw: RunningGateway;
  sink: SinkServer;
}

export async function rulesDir(t: TestContext, extraRules = ''): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-uribl-rules-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'zz-uribl.yaml'), LISTS);
  // a file of its own: it may hold dnsbl lists and symbols of its own, merged after LISTS
  if (extraRules) await writeFile(path.join(dir, 'zz-uribl-extra.yaml'), extraRules);
  return dir;
}

export async function start(t: TestContext, zones: Zones, extraRules = '', extraConfig: Record<string, unknown> = {}): Promise<Running> {
  const dir = await rulesDir(t, extraRules);
  const sink = await startSink();
  t.after(() => sink.close());
  const config = {
    mode: 'front-of',
    delivery: { mode: 'inline', upstream: { host: sink.host, port: sink.port } },
    checks: { timeout: '1500ms' },
    // 1 s, under checks.timeout: a loaded machine can take over 300 ms to read the test server's answer
    dns: { timeout: '1s', retries: 0 },
    smtp: { trusted_networks: [] },
    rules_dirs: [SHIPPED_RULES_DIR, dir],
    ...extraConfig,
  };
  return { gw: await startGateway(t, config, { zones: { ...BASE_ZONES, ...zones } }), sink };
}

/** One message over SMTP from loopback (not trusted: the filters run); the reply to the final dot. */
export async function send(t: TestContext, gw: RunningGateway, message: string): Promise<Reply> {
  const { wire, greeting } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  assert.equal(greeting.code, 220);
  assert.equal((await wire.command('EHLO client.sender.example')).code, 250);
  assert.equal((await wire.command(`MAIL FROM:<${SENDER}>`)).code, 250);
  assert.equal((await wire.command(`RCPT TO:<${RCPT}>`)).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  wire.write(message.replace(/\r?\n/g, '\r\n').replace(/(\r\n)?$/, '\r\n'));
  return wire.command('.', 10_000);
}

export function headers(from = `<${SENDER}>`, extra = ''): string {
  return `From: ${from}\nTo: <${RCPT}>\nSubject: offers\nDate: Thu, 01 Jan 2026 10:00:00 +0000\nMessage-ID: <${Math.random().toString(36).slice(2)}@sender.example>\nMIME-Version: 1.0\n${extra}`;
}

export function htmlMessage(html: string, from?: string, extra?: string): string {
  return `${headers(from, extra)}Content-Type: text/html; charset=utf-8\n\n<html><body>${html}</body></html>\n`;
}

export function textMessage(text: string, from?: string, extra?: string): string {
  return `${headers(from, extra)}Content-Type: text/plain; charset=utf-8\n\n${text}\n`;
}

/** SYMBOL → { score, options } from the one delivered message's X-Spamgate-Result. */
export function symbolsOfDelivered(sink: SinkServer): Map<string, { score: string; options: string[] }> {
  assert.equal(sink.messages.length, 1, 'exactly one message delivered');
  const raw = (sink.messages[0]?.raw ?? Buffer.alloc(0)).toString('latin1');
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
  const result = /^X-Spamgate-Result: (.*)$/im.exec(head)?.[1] ?? '';
  assert.ok(result, 'X-Spamgate-Result present');
  const out = new Map<string, { score: string; options: string[] }>();
  for (const m of result.matchAll(/([A-Z][A-Z0-9_]+)\(([^)]*)\)(?:\[([^\]]*)\])?/g)) out.set(m[1] ?? '', { score: m[2] ?? '', options: (m[3] ?? '').split(',').filter(Boolean) });
  return out;
}

/** Names asked in a zone, health probes left out. */
export function asked(gw: RunningGateway, zone: string): string[] {
  const probes = new Set([`test.${zone}`, `invalid.${zone}`, `test.surbl.test.${zone}`, `2.0.0.127.${zone}`, `1.0.0.127.${zone}`]);
  return gw.dns.log.filter((q) => q.type === 'A' && q.name.endsWith(`.${zone}`) && !probes.has(q.name)).map((q) => q.name.slice(0, -zone.length - 1));
}

export async function metricsText(gw: RunningGateway): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${gw.httpPort ?? 0}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}
