// The newer Sieve extensions end to end: a message over SMTP to alice, whose active script uses them, lands in
// the folder it chose. subaddress (alice+news), mailbox (:create, mailboxexists) and special-use (\Junk);
// date and index; vacation :seconds (a second reply once the period has passed, the gateway's clock moved);
// environment (location, remote-ip); duplicate (the same Message-ID twice, remembered on disk).
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Clock } from '../../src/util/clock.ts';
import { duplicatesFile } from '../../src/mailhost/sieve-duplicates.ts';
import { messageDone } from '../helpers/await-log.ts';
import type { RunningGateway } from '../helpers/gateway.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { ALICE, startSieveMailhost } from '../helpers/sieve-mailhost.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';

interface Setup {
  gw: RunningGateway;
  setScript: (text: string) => Promise<void>;
  send: (opts: { to?: string; head?: string; body?: string; messageId?: string }) => Promise<string>;
  folder: (name?: string) => string[];
}

async function setup(t: TestContext, clock?: Clock): Promise<Setup> {
  const { gw, dir, users } = await startSieveMailhost(t, 'spamgate-sieve-newer-', {}, undefined, undefined, clock);
  let seq = 0;
  return {
    gw,
    setScript: async (text) => {
      const file = path.join(dir, `script${++seq}.sieve`);
      writeFileSync(file, text);
      const r = await users(['sieve', ALICE, 'set', file]);
      assert.equal(r.code, 0, r.err);
    },
    send: async ({ to = ALICE, head = '', body = 'hello', messageId }) => {
      const before = gw.logs.length;
      const id = messageId ?? `<${++seq}.${Date.now()}@remote.example>`;
      const r = await sendMessage(gw.smtpPort, 'bob@remote.example', [to], `From: <bob@remote.example>\r\nTo: <${to}>\r\nSubject: test\r\n${head}Message-ID: ${id}\r\n\r\n${body}\r\n`);
      assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
      const queueId = /queued as (\S+)/.exec(r.data?.text ?? '')?.[1] ?? '';
      await messageDone(gw, before, queueId);
      return queueId;
    },
    folder: (name = '') => maildirMessages(gw.dataDir, name, 'alice', 'corp.example'),
  };
}

test('subaddress, mailbox and special-use: alice+news files into a folder made for it, alice+spam into the \\Junk folder, mailboxexists', async (t) => {
  const s = await setup(t);
  await s.setScript(
    [
      'require ["fileinto", "envelope", "subaddress", "mailbox", "special-use"];',
      'if envelope :detail "to" "news" { fileinto :create "News"; }',
      'elsif envelope :detail "to" "spam" { fileinto :specialuse "\\\\Junk" "Spam"; }',
      'elsif allof (mailboxexists "Trash", not mailboxexists "Nope", specialuse_exists "Trash" "\\\\Trash") { fileinto "Checked"; }',
    ].join('\n'),
  );
  await s.send({ to: 'alice+news@corp.example', body: 'news-1' });
  await s.send({ to: 'alice+spam@corp.example', body: 'spam-1' });
  await s.send({ body: 'plain-1' });
  assert.match(s.folder('.News').join(''), /news-1/);
  assert.match(s.folder('.Junk').join(''), /spam-1/, 'the folder with \\Junk, not a new "Spam"');
  assert.equal(s.folder('.Spam').length, 0);
  assert.match(s.folder('.Checked').join(''), /plain-1/);
  assert.equal(s.folder().length, 0, 'nothing in INBOX');
});

test('date and index: the Date header year and the last of several fields choose the folder', async (t) => {
  const s = await setup(t);
  await s.setScript(
    [
      'require ["fileinto", "date", "index", "relational"];',
      'if date :zone "+0000" :value "lt" "date" "year" "2021" { fileinto "Old"; }',
      'elsif header :index 1 :last "x-stage" "inner" { fileinto "Inner"; }',
    ].join('\n'),
  );
  await s.send({ head: 'Date: Tue, 31 Dec 2020 23:30:00 -0100\r\n', body: 'new-year' });
  await s.send({ head: 'Date: Tue, 30 Dec 2020 10:00:00 +0000\r\n', body: 'old-1' });
  await s.send({ head: 'X-Stage: outer\r\nX-Stage: inner\r\n', body: 'inner-1' });
  await s.send({ head: 'X-Stage: inner\r\nX-Stage: outer\r\n', body: 'outer-1' });
  assert.match(s.folder('.Old').join(''), /old-1/);
  assert.doesNotMatch(s.folder('.Old').join(''), /new-year/, '2021 in UTC');
  assert.match(s.folder('.Inner').join(''), /inner-1/);
  const inbox = s.folder().join('');
  assert.match(inbox, /new-year/);
  assert.match(inbox, /outer-1/);
});

test('vacation :seconds: one reply within the period, another once it has passed', async (t) => {
  let offset = 0;
  const s = await setup(t, { now: () => Date.now() + offset });
  await s.setScript('require ["vacation", "vacation-seconds"];\nvacation :seconds 120 :handle "short" "Back soon.";\n');
  const logs = (id: string, msg: string): number => s.gw.logs.filter((l) => l.id === id && l.msg === msg).length;
  const first = await s.send({});
  const second = await s.send({});
  offset = 121_000;
  const third = await s.send({});
  assert.equal(logs(first, 'vacation reply queued'), 1);
  assert.equal(logs(second, 'vacation reply suppressed'), 1);
  assert.equal(logs(third, 'vacation reply queued'), 1, 'past 120 seconds the sender hears again');
});

test('environment: the location and the SMTP client address choose the folder', async (t) => {
  const s = await setup(t);
  await s.setScript('require ["fileinto", "environment"];\nif allof (environment "location" "MDA", environment "phase" "during", environment "remote-ip" "127.0.0.1", environment "name" "spamgate") { fileinto "Env"; }\n');
  await s.send({ body: 'env-1' });
  assert.match(s.folder('.Env').join(''), /env-1/);
});

test('duplicate: the second copy of a Message-ID is filed apart; the id is kept on disk', async (t) => {
  const s = await setup(t);
  await s.setScript('require ["fileinto", "duplicate"];\nif duplicate { fileinto "Dups"; }\n');
  await s.send({ body: 'copy-1', messageId: '<same@remote.example>' });
  await s.send({ body: 'copy-2', messageId: '<same@remote.example>' });
  await s.send({ body: 'other-1' });
  assert.match(s.folder().join(''), /copy-1/);
  assert.match(s.folder().join(''), /other-1/);
  assert.match(s.folder('.Dups').join(''), /copy-2/);
  assert.equal(s.folder('.Dups').length, 1);
  assert.ok(existsSync(duplicatesFile(s.gw.dataDir, ALICE)));
});
