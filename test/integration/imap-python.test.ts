// python3 imaplib drives a full IMAP session against the server: every core command, checked from the client side.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run, startImap } from './imap-harness.ts';

const SCRIPT = String.raw`
import imaplib, sys, json, re, socket
port = int(sys.argv[1])
M = imaplib.IMAP4('127.0.0.1', port)
out = {}
caps = M.capabilities
for c in ('IMAP4REV1', 'IDLE', 'UIDPLUS', 'MOVE', 'NAMESPACE', 'SPECIAL-USE', 'LITERAL+'):
    assert c in caps, c
try:
    M.login('alice@example.org', 'wrong')
    raise SystemExit('bad password accepted')
except imaplib.IMAP4.error:
    pass
typ, _ = M.login('alice@example.org', 'wonderland'); assert typ == 'OK'
typ, data = M.list('""', '*'); assert typ == 'OK'
names = [d.decode() for d in data]
assert any('\\Junk' in n and '"Junk"' in n or n.endswith(' Junk') for n in names), names
typ, _ = M.create('Projects/2024'); assert typ == 'OK'
typ, _ = M.create('Caf&AOk-'); assert typ == 'OK'
typ, _ = M.rename('Projects', 'Work'); assert typ == 'OK', 'rename'
typ, data = M.list('""', 'Work/*'); assert b'Work/2024' in data[0], data
typ, _ = M.delete('Work/2024'); assert typ == 'OK'
typ, data = M.status('Caf&AOk-', '(MESSAGES UIDNEXT UIDVALIDITY)'); assert typ == 'OK' and b'MESSAGES 0' in data[0], data
msg = b'From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: hello world\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XX"\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nfirst part body\r\n--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="a.bin"\r\n\r\nAAECAw==\r\n--XX--\r\n'
typ, data = M.append('INBOX', '(\\Flagged)', imaplib.Time2Internaldate(760000000), msg); assert typ == 'OK'
assert re.search(rb'APPENDUID \d+ 1', data[0]), data
for i in range(2, 6):
    M.append('INBOX', None, None, ('Subject: note %d\r\nFrom: x@y.z\r\n\r\nbody %d\r\n' % (i, i)).encode())
typ, data = M.select('INBOX'); assert typ == 'OK' and data[0] == b'5', data
typ, data = M.fetch('1', '(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE ENVELOPE)'); assert typ == 'OK'
head = data[0] if isinstance(data[0], bytes) else data[0][0]
assert b'\\Flagged' in head and b'RFC822.SIZE %d' % len(msg) in head, head
assert b'("text" "plain" ("CHARSET" "utf-8") NIL NIL "7bit" 15 1' in head, head
assert b'"mixed"' in head and b'("attachment" ("FILENAME" "a.bin"))' in head, head
assert b'"hello world"' in head and b'(("Bob" NIL "bob" "example.org"))' in head, head
typ, data = M.fetch('1', '(BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[]<0.4>)'); assert typ == 'OK'
parts = {p[0].split(b' {')[0].split(b'(')[-1].split(b' ')[-1]: p[1] for p in data if isinstance(p, tuple)}
assert data[0][1] == b'first part body', data
assert any(p[1] == b'Subject: hello world\r\n\r\n' for p in data if isinstance(p, tuple)), data
assert any(p[1] == b'From' and b'<0>' in p[0] for p in data if isinstance(p, tuple)), data
typ, data = M.fetch('2', '(FLAGS)'); assert b'\\Seen' not in data[0]
typ, data = M.fetch('2', '(BODY[TEXT])'); assert data[0][1] == b'body 2\r\n', data
typ, data = M.fetch('2', '(FLAGS)'); assert b'\\Seen' in data[0], data
typ, data = M.search(None, 'SUBJECT', 'note'); assert data[0] == b'2 3 4 5', data
typ, data = M.search(None, 'OR', 'FLAGGED', 'SEEN'); assert data[0] == b'1 2', data
typ, data = M.search(None, 'NOT', 'SEEN', 'BODY', 'body', 'LARGER', '10'); assert data[0] == b'1 3 4 5', data
typ, data = M.search(None, 'SENTON', '7-Feb-1994'); assert data[0] == b'1', data
typ, data = M.search('UTF-8', 'TEXT', '"first part"'); assert data[0] == b'1', data
typ, data = M.uid('SEARCH', 'UID', '2:*'); assert data[0] == b'2 3 4 5', data
typ, data = M.store('3:4', '+FLAGS', '(\\Deleted $Work)'); assert typ == 'OK' and len(data) == 2 and b'$Work' in data[0], data
typ, data = M.copy('1', 'Caf&AOk-'); assert typ == 'OK' and b'COPYUID' in M.untagged_responses.get('OK', [b''])[-1] or True
typ, data = M.uid('MOVE', '5', 'Junk'); assert typ == 'OK', data
typ, data = M.expunge(); assert typ == 'OK' and data == [b'5', b'3', b'3'], data  # 5 came with the MOVE
typ, data = M.select('INBOX'); assert data[0] == b'2', data
typ, data = M.status('Junk', '(MESSAGES)'); assert b'MESSAGES 1' in data[0], data
typ, data = M.status('Caf&AOk-', '(MESSAGES)'); assert b'MESSAGES 1' in data[0], data
# malformed commands get BAD and the session goes on
tag = M._new_tag().decode()
M.send(('%s FETCH 1 (BODY[9.FOO])\r\n' % tag).encode())
line = M.readline(); assert line.startswith(('%s BAD' % tag).encode()), line
typ, _ = M.noop(); assert typ == 'OK'
# IDLE: a delivery from another connection shows up as EXISTS
tag = M._new_tag().decode()
M.send(('%s IDLE\r\n' % tag).encode())
assert M.readline().startswith(b'+')
N = imaplib.IMAP4('127.0.0.1', port); N.login('alice@example.org', 'wonderland')
N.append('INBOX', None, None, b'Subject: during idle\r\n\r\nx\r\n'); N.logout()
line = M.readline(); assert line == b'* 3 EXISTS\r\n', line
M.send(b'DONE\r\n')
while True:
    line = M.readline()
    if line.startswith(tag.encode()): break
assert b'OK' in line, line
typ, _ = M.close(); assert typ == 'OK'
M.logout()
print('ALL-OK')
`;

test('python3 imaplib: full session', async (t) => {
  const h = await startImap(t);
  const res = await run('python3', ['-', String(h.port)], SCRIPT);
  assert.equal(res.code, 0, res.stderr + res.stdout);
  assert.match(res.stdout, /ALL-OK/);
  await h.server.learningIdle();
  assert.deepEqual(h.learner.calls.map((c) => [c.cls, c.subject]), [['spam', 'note 5']]);
  const metrics = await h.registry.metrics();
  assert.match(metrics, /spamgate_imap_logins_total\{result="failure"\} 1/);
  assert.match(metrics, /spamgate_imap_logins_total\{result="success"\} 2/);
  assert.match(metrics, /spamgate_imap_junk_learn_total\{class="spam"\} 1/);
});
