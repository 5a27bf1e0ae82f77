// Secret files (src/util/secret-file.ts) as the BATV key file, the SRS secrets file and the relay password
// file read them: a named pipe or a directory is refused at once (a pipe would block the read, and with it the
// start or a reload), as are a file others may read, one too large and a missing one, each saying why.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { readBatvKeyFile } from '../../../src/batv/batv-keys.ts';
import { readRelayPassword } from '../../../src/mailhost/relay-password.ts';
import { readSrsSecretsFile } from '../../../src/mailhost/srs-secret.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const readers: [string, (file: string) => { error: string } | object][] = [
  ['batv key file', readBatvKeyFile],
  ['srs secrets file', readSrsSecretsFile],
  ['relay password file', readRelayPassword],
];

for (const [what, read] of readers) {
  test(`${what}: a named pipe, a directory, a file open to others, a large file and a missing one are refused with the reason`, { timeout: 10_000 }, (t) => {
    const dir = tempDir(t);
    const fifo = path.join(dir, 'pipe');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const err = (file: string): string => ('error' in read(file) ? (read(file) as { error: string }).error : 'read');
    assert.match(err(fifo), /pipe is not a regular file/);
    const sub = path.join(dir, 'sub');
    mkdirSync(sub, { mode: 0o700 });
    assert.match(err(sub), /sub is not a regular file/);
    const open = path.join(dir, 'open');
    writeFileSync(open, '1 0123456789abcdef0123\n', { mode: 0o600 });
    chmodSync(open, 0o644);
    assert.match(err(open), /open is open to other users \(mode 0644\)/);
    const large = path.join(dir, 'large');
    writeFileSync(large, 'x'.repeat(70 * 1024), { mode: 0o600 });
    assert.match(err(large), /large is larger than \d+ bytes/);
    assert.match(err(path.join(dir, 'missing')), /missing does not exist/);
  });
}
