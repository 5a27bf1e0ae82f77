// check-config's look at clamd's unix socket (antivirus.enabled with antivirus.clamd: unix:/path): the path must
// be there, be a socket, and be writable by the user running check-config (connect() to a unix socket needs write
// permission on it). Only a warning: `serve` starts without clamd too (it may come up later; until then mail goes
// per antivirus.on_error), and check-config reports as errors only what `serve` refuses. A TCP address is tried by
// clamd-tcp-check.ts.
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import type { AntivirusConfig } from '../config/sections/antivirus.ts';
import type { FileProblem } from '../config/file-checks.ts';
import { parseClamdAddress } from './clamd-protocol.ts';

const AT = ['antivirus', 'clamd'];
/** sun_path holds 108 bytes on Linux with its NUL: connect() to a longer path fails (ENOENT) even with a socket there. */
const MAX_SOCKET_PATH = 107;

/** What is wrong with clamd's unix socket, or undefined (antivirus off, a TCP address, a socket there this user may write to). */
export function clamdSocketProblem(config: AntivirusConfig): FileProblem | undefined {
  if (!config.enabled) return undefined;
  const address = parseClamdAddress(config.clamd);
  if ('error' in address || address.kind !== 'unix') return undefined;
  const file = address.path;
  const bytes = Buffer.byteLength(file);
  if (bytes > MAX_SOCKET_PATH) {
    return { path: AT, message: `${file} is ${bytes} bytes long: a unix socket path is at most ${MAX_SOCKET_PATH}, so serve cannot connect to clamd there (a shorter path, or a shorter symlink to the socket, can); until then every message goes per antivirus.on_error (${config.on_error})` };
  }
  let st: Stats;
  try {
    st = statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist: clamd is not running, or listens elsewhere (LocalSocket in clamd.conf)'
        : code === 'ENOTDIR'
          ? 'cannot be there: a directory in its path is a file'
          : code === 'EACCES'
            ? 'cannot be looked at (permission denied on a directory in its path)'
            : `cannot be looked at (${code ?? (err as Error).message})`;
    return { path: AT, message: `clamd's socket ${file} ${why}; until clamd listens there every message goes per antivirus.on_error (${config.on_error})` };
  }
  if (st.isSocket()) return writeProblem(file, config);
  return { path: AT, message: `${file} is ${kindOf(st)}, not a socket: clamd's LocalSocket (clamd.conf) names the socket; until clamd listens there every message goes per antivirus.on_error (${config.on_error})` };
}

/** A socket this user may not write to cannot be connected to (EACCES): serve, run as this user, would not reach clamd. */
function writeProblem(file: string, config: AntivirusConfig): FileProblem | undefined {
  try {
    accessSync(file, constants.W_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return {
      path: AT,
      message: `clamd's socket ${file} is not writable by this user (${code}), so no connect to clamd can be made there: give spamgate's user write permission (clamd.conf LocalSocketGroup and LocalSocketMode, or add the user to that group); until then every message goes per antivirus.on_error (${config.on_error})`,
    };
  }
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFile()) return 'a regular file';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a socket';
}
