// Sender reputation test harness: a front-of gateway (inline delivery to a sink) with a content rule that
// makes a message spam (REP-SPAM-MARKER, 10) or refused at DATA (REP-REJECT-MARKER, 20), an SPF zone for
// good.example, clients presented by XCLIENT from loopback, and helpers to send and read the result.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import type { Zones } from '../helpers/dns-server.ts';
import { startGateway, type GatewayTestOptions, type RunningGateway } from '../helpers/gateway.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import type { Reply } from '../helpers/smtp-wire.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { xclientSession } from '../helpers/xclient.ts';

export const RCPT = 'postmaster@localhost';
export const GOOD_IP = '192.0.2.10';
export const SPAM_IP = '198.51.100.7';

const RULES = `content_rules:
  - { symbol: CT_TEST_REP_SPAM, description: a marker of spam, weight: 10, type: body, regex: 'REP-SPAM-MARKER' }
  - { symbol: CT_TEST_REP_REJECT, description: a marker of refused spam, weight: 20, type: body, regex: 'REP-REJECT-MARKER' }
`;

export const ZONES: Zones = { 'good.example': [{ TXT: `v=spf1 ip4:192.0.2.0/24 ~all` }] };

export interface Setup {
  gw: RunningGateway;
  sink: SinkServer;
}

export async function startRepGateway(t: TestContext, over: Record<string, unknown> = {}, opts: GatewayTestOptions = {}, sink?: SinkServer): Promise<Setup> {
  const rules = tempDir(t, 'spamgate-rep-rules-');
  mkdirSync(rules, { recursive: true });
  writeFileSync(path.join(rules, 'rep.yaml'), RULES);
  const s = sink ?? (await startSink());
  if (!sink) t.after(() => s.close());
  const gw = await startGateway(
    t,
    {
      mode: 'front-of',
      delivery: { mode: 'inline', upstream: { host: s.host, port: s.port } },
      rules_dirs: [SHIPPED_RULES_DIR, rules],
      bayes: { enabled: false },
      fuzzy: { enabled: false },
      smtp: { xclient_from: ['127.0.0.1/32'], trusted_networks: [] },
      checks: { timeout: '1500ms', disabled: ['dnsbl', 'rhsbl_helo', 'rhsbl_from', 'fcrdns', 'helo'] },
      // 1 s, under checks.timeout: a loaded machine can take over 300 ms to read the test server's answer
      dns: { timeout: '1s', retries: 0 },
      ...over,
    },
    { zones: ZONES, ...opts },
  );
  return { gw, sink: s };
}

let seq = 0;

/** One message from `addr` (XCLIENT) with MAIL FROM `from`; returns the DATA reply and the delivered X-Spamgate-Result. */
export async function send(t: TestContext, s: Setup, addr: string, from: string, body: string): Promise<{ data: Reply; result: string; raw: string; message: string }> {
  const wire = await xclientSession(t, s.gw.smtpPort, addr);
  assert.equal((await wire.command(`MAIL FROM:<${from}>`)).code, 250);
  assert.equal((await wire.command(`RCPT TO:<${RCPT}>`)).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  const before = s.sink.messages.length;
  wire.write(`From: <${from}>\r\nTo: <${RCPT}>\r\nSubject: rep ${++seq}\r\nDate: Thu, 01 Jan 2026 10:00:00 +0000\r\nMessage-ID: <rep${seq}.${Date.now()}@test>\r\n\r\n${body}\r\n`);
  const data = await wire.command('.', 10_000);
  await wire.command('QUIT');
  if (data.code !== 250) return { data, result: '', raw: '', message: '' };
  assert.equal(s.sink.messages.length, before + 1);
  const raw = s.sink.messages.at(-1)?.raw.toString('latin1') ?? '';
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
  return { data, result: /^X-Spamgate-Result: (.*)$/im.exec(head)?.[1] ?? '', raw: head, message: raw };
}

export const metrics = async (gw: RunningGateway): Promise<string> => (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();

/** Waits until the gateway has learned `n` judged messages (learning follows the reply). */
export async function learned(gw: RunningGateway, n: number, source = 'verdict'): Promise<void> {
  const re = new RegExp(`spamgate_reputation_learned_total\\{source="${source}"\\} (\\d+)`);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const m = re.exec(await metrics(gw));
    if (m && Number(m[1]) >= n) return;
    if (Date.now() > deadline) throw new Error(`reputation learned ${m?.[1] ?? 'nothing'} of ${n} (${source})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
