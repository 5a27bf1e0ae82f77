// Help text against behaviour: every option a command accepts is named in its usage synopsis (the
// lines before the first blank or indented explanation), so `spamgate CMD --help` shows all it takes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMMANDS } from '../../../src/commands/index.ts';
import { serveCommand } from '../../../src/commands/serve.ts';

/** The synopsis: "usage:" and its continuation lines (more "spamgate …" forms, "|" or "[" wrapped options). */
function synopsis(usage: string): string {
  const lines: string[] = [];
  for (const line of usage.split('\n')) {
    if (line.trim() === '') break;
    if (lines.length > 0 && !/^\s+(spamgate\b|\||\[)/.test(line)) break;
    lines.push(line);
  }
  return lines.join('\n');
}

test('every option a command accepts is in its usage synopsis', () => {
  for (const command of COMMANDS) {
    const shown = synopsis(command.usage);
    for (const flag of [...(command.valueFlags ?? []), ...(command.booleanFlags ?? [])]) {
      assert.ok(shown.includes(`--${flag}`), `spamgate ${command.name} --help: synopsis lacks --${flag}:\n${shown}`);
    }
  }
});

test('serve --help names every HTTP endpoint', () => {
  for (const endpoint of ['/metrics', '/healthz', '/readyz']) assert.ok(serveCommand.usage.includes(endpoint), endpoint);
});
