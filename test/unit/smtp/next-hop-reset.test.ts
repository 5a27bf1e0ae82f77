// The next-hop client after a transaction that delivered to nobody: a next hop that ends the session at
// the RSET (its error limit reached, as real MTAs count refused recipients and the pipelined DATA) has
// still given its final replies; they stand, and the connection is not reused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NextHopClient } from '../../../src/smtp/next-hop-client.ts';
import { startScriptedSmtp, type ScriptedSmtp } from '../../helpers/scripted-smtp.ts';

/** A pipelining server that refuses every recipient with `rcptReply` and answers RSET with 421, closing. */
function strictServer(rcptReply: string, pipelining: boolean): Promise<ScriptedSmtp> {
  return startScriptedSmtp('220 strict ESMTP', (line, sock) => {
    if (/^EHLO/i.test(line)) sock.write(pipelining ? '250-strict\r\n250-ENHANCEDSTATUSCODES\r\n250 PIPELINING\r\n' : '250-strict\r\n250 ENHANCEDSTATUSCODES\r\n');
    else if (/^MAIL/i.test(line)) sock.write('250 2.1.0 Ok\r\n');
    else if (/^RCPT/i.test(line)) sock.write(`${rcptReply}\r\n`);
    else if (line === 'DATA') sock.write('554 5.5.1 Error: no valid recipients\r\n');
    else if (line === 'RSET') sock.end('421 4.7.0 strict Error: too many errors\r\n');
    else if (line === 'QUIT') sock.end('221 bye\r\n');
  });
}

for (const pipelining of [true, false]) {
  test(`every recipient refused, then 421 to RSET: the refusals stand (not a connection failure), the connection is dropped${pipelining ? ', pipelined' : ''}`, async (t) => {
    const server = await strictServer('550 5.1.1 <x@y.test>: Recipient address rejected: User unknown', pipelining);
    t.after(() => server.close());
    const client = await NextHopClient.connect({ host: '127.0.0.1', port: server.port, heloName: 'gw.test', connectTimeout: 2000, commandTimeout: 2000, starttls: 'never', tlsVerify: false });
    t.after(() => client.destroy());
    const tx = await client.send('a@remote.test', ['x@y.test', 'z@y.test'], Buffer.from('Subject: x\r\n\r\nbody\r\n'));
    assert.deepEqual([...tx.recipients.values()].map((r) => [r.code, r.enhanced]), [[550, '5.1.1'], [550, '5.1.1']]);
    assert.equal(client.usable, false, 'not put back in the pool');
  });
}
