// Test helper: an SMTP session the gateway takes as coming from `addr`, handed over by XCLIENT as Postfix does
// (EHLO, XCLIENT, 220, EHLO again); the gateway must list 127.0.0.1 in smtp.xclient_from.
import assert from 'node:assert/strict';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { SmtpWire } from './smtp-wire.ts';

export async function xclientSession(t: TestContext, port: number, addr: string): Promise<SmtpWire> {
  const { wire, greeting } = await SmtpWire.open(port);
  t.after(() => wire.close());
  assert.equal(greeting.code, 220);
  await wire.command('EHLO proxy.test');
  const handed = await wire.command(`XCLIENT ADDR=${net.isIPv6(addr) ? `IPV6:${addr}` : addr} NAME=[UNAVAILABLE]`);
  assert.equal(handed.code, 220, handed.lines.join('|'));
  assert.equal((await wire.command('EHLO client.test.example')).code, 250);
  return wire;
}
