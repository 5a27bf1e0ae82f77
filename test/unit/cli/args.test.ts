// The CLI's argv parser: a value flag given twice is refused (the later one silently replaced the earlier),
// except the path lists of train and masscheck, which add up; an empty value is no value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flagList } from '../../../src/bayes/cli-support.ts';
import { parseArgs } from '../../../src/cli/args.ts';
import { classifyCommand } from '../../../src/commands/classify.ts';
import { masscheckCommand } from '../../../src/commands/masscheck.ts';
import { queueCommand } from '../../../src/commands/queue.ts';
import { trainCommand } from '../../../src/commands/train.ts';
import { UsageError } from '../../../src/commands/types.ts';

test('train --spam A --spam B learns both; masscheck --ham too; commas still separate', () => {
  const train = parseArgs(trainCommand, ['--spam', 'a', '--ham', 'h', '--spam=b,c', '--spam', 'd']);
  assert.deepEqual(flagList(train, 'spam'), ['a', 'b', 'c', 'd']);
  assert.deepEqual(flagList(train, 'ham'), ['h']);
  const mass = parseArgs(masscheckCommand, ['--ham', 'x', '--ham', 'y', '--spam', 's']);
  assert.deepEqual(flagList(mass, 'ham'), ['x', 'y']);
});

test('any other value flag given twice is bad usage, not a silent choice of the last', () => {
  for (const [cmd, argv] of [
    [classifyCommand, ['--config', 'a.yaml', '--config', 'b.yaml', 'f']],
    [trainCommand, ['--spam', 's', '--data-dir', 'x', '--data-dir=y']],
    [queueCommand, ['flush', '--wait', '1', '--wait', '2']],
  ] as const) {
    assert.throws(() => parseArgs(cmd, argv), (err: unknown) => err instanceof UsageError && /^--[a-z-]+ given more than once$/.test(err.message), argv.join(' '));
  }
  // a boolean given twice changes nothing
  assert.equal(parseArgs(classifyCommand, ['--json', '--json', 'f']).flags.get('json'), true);
});

test('an empty value (--data-dir "$UNSET") is bad usage, not the current directory', () => {
  for (const argv of [['--data-dir', '', 'f'], ['--data-dir=', 'f'], ['--config', '', 'f']]) {
    assert.throws(() => parseArgs(classifyCommand, argv), (err: unknown) => err instanceof UsageError && /^--(data-dir|config) needs a value$/.test(err.message), JSON.stringify(argv));
  }
});
