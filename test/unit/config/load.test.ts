// Config loading: embedded defaults, units, and every problem reported with file, line and key.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../../src/config/load.ts';

test('embedded defaults: full-stack for localhost on the documented ports', () => {
  const { config } = loadConfig({});
  assert.equal(config.mode, 'full-stack');
  assert.deepEqual(config.local_domains, ['localhost']);
  assert.equal(config.smtp.listen.port, 2525);
  assert.equal(config.submission.listen.port, 2587);
  assert.equal(config.http.listen.port, 9465);
  assert.equal(config.pop3.listen.port, 1110);
  assert.equal(config.imap.listen.port, 1143);
  assert.equal(config.queue.max_age, 5 * 86_400_000);
  assert.ok(Object.isFrozen(config.smtp));
});

test('units: durations and sizes', () => {
  const { config } = loadConfig({ inline: { smtp: { max_message_size: '10MB', idle_timeout: '90s' }, queue: { max_age: '2d' } } });
  assert.equal(config.smtp.max_message_size, 10 * 1024 * 1024);
  assert.equal(config.smtp.idle_timeout, 90_000);
  assert.equal(config.queue.max_age, 2 * 86_400_000);
});

test('all problems at once, each naming file, line, key path, expected and found', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-cfg-'));
  const file = path.join(dir, 'spamgate.yaml');
  writeFileSync(file, 'smtp:\n  listen:\n    port: "abc"\n  bogus: 1\nqueue:\n  max_age: forever\nlocal_domains: [ "not a domain" ]\n');
  assert.throws(
    () => loadConfig({ file }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 4, err.problems.join('\n'));
      assert.match(err.problems.join('\n'), new RegExp(`${file.replace(/[.]/g, '\\.')}:3: smtp\\.listen\\.port: expected number, found "abc"`));
      assert.match(err.problems.join('\n'), /:4: smtp\.bogus: unknown key/);
      assert.match(err.problems.join('\n'), /:6: queue\.max_age: expected a duration/);
      assert.match(err.problems.join('\n'), /:7: local_domains\[0\]: expected a domain name/);
      return true;
    },
  );
  writeFileSync(file, 'smtp: [unclosed\n');
  assert.throws(() => loadConfig({ file }), /spamgate\.yaml:\d+: /);
});

test('a failed-login window of zero is refused in every protocol (it would turn the throttle off)', () => {
  for (const inline of [{ imap: { auth_failure_window: 0 } }, { imap: { auth_failure_window: '0s' } }, { pop3: { auth_failures: { per_user: { limit: 5, window: 0 } } } }, { smtp: { auth: { failures: { per_ip: { limit: 5, window: 0 } } } } }]) {
    assert.throws(() => loadConfig({ inline }), /window above zero/, JSON.stringify(inline));
  }
  assert.equal(loadConfig({ inline: { imap: { auth_failure_window: '1m' } } }).config.imap.auth_failure_window, 60_000);
});

test('mailhost.sync_read_max: 64k by default, 0 allowed (a Maildir on a network filesystem), at most 1m', () => {
  assert.equal(loadConfig({ inline: {} }).config.mailhost.sync_read_max, 65536);
  assert.equal(loadConfig({ inline: { mailhost: { sync_read_max: 0 } } }).config.mailhost.sync_read_max, 0);
  assert.throws(() => loadConfig({ inline: { mailhost: { sync_read_max: '2m' } } }), /mailhost\.sync_read_max: at most 1m/);
});
