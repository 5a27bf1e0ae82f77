// RFC 5034 / RFC 4616 PLAIN responses: cancel, strict base64, NUL-separated credentials, authzid.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readPlainResponse } from '../../../src/pop3/sasl-plain.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('credentials, with or without a matching authzid', () => {
  assert.deepEqual(readPlainResponse(b64('\0alice\0pw')), { kind: 'credentials', authc: 'alice', password: 'pw' });
  assert.deepEqual(readPlainResponse(b64('Alice\0alice\0p w')), { kind: 'credentials', authc: 'alice', password: 'p w' });
  assert.equal(readPlainResponse(b64('bob\0alice\0pw')).kind, 'foreign-authzid');
});

test('"*" cancels; bad base64 and malformed credentials are told apart', () => {
  assert.equal(readPlainResponse('*').kind, 'cancelled');
  for (const bad of ['abc', 'a===', '====', 'YW Jj', 'YWJj=', '!!!!', 'YQ=a']) assert.equal(readPlainResponse(bad).kind, 'bad-base64', bad);
  for (const m of ['', b64('alice\0pw'), b64('\0\0pw'), b64('\0alice\0'), b64('a\0b\0c\0d')]) assert.equal(readPlainResponse(m).kind, 'malformed', JSON.stringify(m));
});
