// RFC 6131 §2: "vacation-seconds" implies "vacation"; a script requiring only "vacation-seconds" may use vacation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSieve } from '../../../src/sieve/compile.ts';
import { formatProblem } from '../../../src/sieve/errors.ts';
import { executeSieve } from '../../../src/sieve/execute.ts';
import { sieveMessage } from '../../../src/sieve/message.ts';

test('RFC 6131 §2: require "vacation-seconds" alone allows vacation (with :seconds or :days)', () => {
  for (const text of ['require "vacation-seconds";\nvacation :seconds 1800 "In a meeting.";', 'require "vacation-seconds";\nvacation :days 2 "Away.";']) {
    const r = compileSieve(text);
    assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
    const out = executeSieve(r.script, sieveMessage(Buffer.from('From: bob@remote.example\r\n\r\nhi\r\n'), { from: 'bob@remote.example', to: 'alice@corp.example' }));
    assert.ok(out.ok && out.actions.some((a) => a.kind === 'vacation'));
  }
});
