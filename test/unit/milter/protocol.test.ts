// The milter protocol's reply encoding and the bounded reading of CONNECT and HELO text: SMFIR_REPLYCODE as Postfix checks it (milter8.c: a 4xx or 5xx code,
// then an enhanced status code of the same class, or the milter is disabled for the session) and reads it
// ("%%" is one "%").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseConnect } from '../../../src/milter/connect-info.ts';
import { firstCString, replyCode } from '../../../src/milter/protocol.ts';

const text = (b: Buffer): string => b.subarray(5, b.length - 1).toString('latin1');

test('SMFIR_REPLYCODE: the enhanced status code takes the class of the reply code', () => {
  assert.equal(text(replyCode(550, '5.7.1', 'Rejected')), '550 5.7.1 Rejected');
  assert.equal(text(replyCode(451, '5.7.1', 'Try later')), '451 4.7.1 Try later');
  assert.equal(text(replyCode(554, '4.3.0', 'No')), '554 5.3.0 No');
  assert.equal(text(replyCode(550, '', 'No code')), '550 5.0.0 No code');
  assert.equal(text(replyCode(550, 'x.y.z', 'Bad code')), '550 5.0.0 Bad code');
  // a code the protocol cannot carry (Postfix takes only 4xx and 5xx) is a local error
  assert.equal(text(replyCode(250, '2.0.0', 'Ok')), '451 4.3.0 Ok');
});

test('SMFIR_REPLYCODE: "%" doubled and never cut in half by the length bound', () => {
  assert.equal(text(replyCode(550, '5.7.1', '100% spam')), '550 5.7.1 100%% spam');
  const long = text(replyCode(550, '5.7.1', `a${'%'.repeat(300)}`));
  assert.ok(!/(^|[^%])(%%)*%$/.test(long), 'no lone "%" at the end');
  assert.ok(long.length <= 820);
});

test('CONNECT address and HELO name: at most 255 bytes kept, as copies that do not hold the 1 MiB packet they came in', () => {
  const connect = (address: string): Buffer => Buffer.concat([Buffer.from('mx.example\0' + '4', 'latin1'), Buffer.from([0x04, 0xd2]), Buffer.from(address + '\0', 'latin1')]);
  assert.deepEqual(parseConnect(connect('192.0.2.1')), { hostname: 'mx.example', family: 'inet', port: 1234, address: '192.0.2.1' });
  assert.equal(firstCString(Buffer.from('helo.example\0rest', 'latin1'), 255), 'helo.example');
  assert.equal(firstCString(Buffer.from('no-nul', 'latin1'), 3), 'no-');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept: string[] = [];
  for (let i = 0; i < 24; i++) {
    const big = String.fromCharCode(0x61 + i).repeat(1_000_000);
    kept.push(parseConnect(connect(big))?.address ?? '', firstCString(Buffer.from(big + '\0', 'latin1'), 255));
  }
  gc();
  const held = process.memoryUsage().heapUsed - before;
  assert.ok(kept.every((s) => s.length === 255));
  // 48 strings of 255 bytes; whole or cut-after-decoding texts would keep 48 MB
  assert.ok(held < 8_000_000, `held ${held} bytes of heap`);
});
