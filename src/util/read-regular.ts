// Reading a file that must be a regular one: opened without following a final link or blocking, so a FIFO (or a
// device) put under a metadata file's name fails at once instead of holding the read — and the folder's lock, and a
// thread of the pool — for ever; a file over `max` bytes is refused rather than loaded whole.
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';

const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** The bytes of `file`; rejects when it is missing, a link, no regular file, or bigger than `max`. */
export async function readRegular(file: string, max = Number.POSITIVE_INFINITY): Promise<Buffer> {
  const handle = await open(file, FLAGS);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw Object.assign(new Error(`${file}: not a regular file`), { code: 'EFTYPE' });
    if (st.size > max) throw Object.assign(new Error(`${file}: ${st.size} bytes, more than ${max}`), { code: 'EFBIG' });
    return await handle.readFile();
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** readRegular as UTF-8 text. */
export async function readRegularText(file: string, max?: number): Promise<string> {
  return (await readRegular(file, max)).toString('utf8');
}

/** readRegular done synchronously (small files on a hot path, where a thread-pool round trip costs more). */
export function readRegularSync(file: string, max = Number.POSITIVE_INFINITY): Buffer {
  const fd = openSync(file, FLAGS);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw Object.assign(new Error(`${file}: not a regular file`), { code: 'EFTYPE' });
    if (st.size > max) throw Object.assign(new Error(`${file}: ${st.size} bytes, more than ${max}`), { code: 'EFBIG' });
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
