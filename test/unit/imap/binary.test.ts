// BINARY decoding (RFC 3516 §4.2): quoted-printable edge cases, base64, identity encodings and UNKNOWN-CTE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binarySection, literalPrefix, UnknownCte } from '../../../src/imap/binary.ts';
import { decodeQuotedPrintableBytes } from '../../../src/mime/transfer.ts';
import { parseMime } from '../../../src/imap/mime.ts';

const qp = (s: string): string => decodeQuotedPrintableBytes(Buffer.from(s, 'latin1')).toString('latin1');

test('quoted-printable: octets, soft breaks, transport white space, malformed "=" kept', () => {
  assert.equal(qp('a=3Db=3db'), 'a=b=b', 'hex digits in either case');
  assert.equal(qp('one =\r\ntwo'), 'one two');
  assert.equal(qp('one=  \r\ntwo'), 'onetwo', 'white space after a soft-break "=" is the transport\'s');
  assert.equal(qp('line  \t\r\nnext \t'), 'line\r\nnext', 'trailing white space dropped (RFC 2045 §6.7 rule 3)');
  assert.equal(qp('=ZZ and =4'), '=ZZ and =4');
  assert.equal(qp('end='), 'end');
  assert.equal(qp('bare=\nlf'), 'barelf');
  assert.equal(qp('=00=FF').length, 2);
});

test('binarySection: base64 and identity decoded, unknown encodings refused, composite parts as sent', () => {
  const raw = Buffer.from(
    'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: BASE64 (comment)\r\n\r\nAAEC\r\n/w==\r\n--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\nplain\r\n--b\r\nContent-Transfer-Encoding: x-gzip\r\n\r\nzz\r\n--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nabc\r\n--b--\r\n',
    'latin1',
  );
  const root = parseMime(raw);
  assert.deepEqual([...binarySection(raw, root, [1])], [0, 1, 2, 0xff]);
  assert.equal(binarySection(raw, root, [2]).toString(), 'plain');
  assert.throws(() => binarySection(raw, root, [3]), UnknownCte);
  assert.throws(() => binarySection(raw, root, [4]), UnknownCte, 'a message part cannot be base64 (RFC 2045 §6.4)');
  assert.equal(binarySection(raw, root, [7]).length, 0);
  assert.equal(binarySection(raw, root, []).length, raw.length);
  assert.equal(literalPrefix(Buffer.from([1, 0])), '~{2}\r\n');
  assert.equal(literalPrefix(Buffer.from([1, 0xff])), '{2}\r\n');
});
