// The message as the MTA delivers it after spamgate's header packets: insertions at an index (0: on top),
// changes and deletions of the n-th field of a name, appended fields, values written with or without the
// leading space (SMFIP_HDR_LEADSPC) and folded lines (LF in the packet) written with CRLF.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyHeaderPackets } from '../../../src/milter/final-message.ts';
import { addHeader, changeFrom, changeHeader, insertHeader, packet, Reply } from '../../../src/milter/protocol.ts';

const raw = Buffer.from('Received: from a\r\n\tby b\r\nSubject: hi\r\nX-Old: 1\r\nx-old: 2\r\n\r\nbody\r\n', 'latin1');

test('insert, change, delete and append, as the MTA applies them', () => {
  const out = applyHeaderPackets(
    raw,
    [changeHeader(2, 'X-Old', ''), changeHeader(1, 'Subject', ' [tag] hi'), insertHeader(1, 'X-Result', ' ok;\n\tfolded'), addHeader('X-End', ' last'), changeFrom('a@b.example'), insertHeader(0, 'DKIM-Signature', ' v=1'), packet(Reply.CONTINUE)],
    true,
  );
  assert.equal(out.toString('latin1'), 'DKIM-Signature: v=1\r\nReceived: from a\r\n\tby b\r\nX-Result: ok;\r\n\tfolded\r\nSubject: [tag] hi\r\nX-Old: 1\r\nX-End: last\r\n\r\nbody\r\n');
});

test('without SMFIP_HDR_LEADSPC the MTA puts one space after the colon; an index past the end appends', () => {
  const out = applyHeaderPackets(Buffer.from('A: 1\r\n\r\n', 'latin1'), [insertHeader(9, 'B', '2')], false);
  assert.equal(out.toString('latin1'), 'A: 1\r\nB: 2\r\n\r\n');
});
