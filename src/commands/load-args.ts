// The config a command runs on, from its --config and --data-dir flags, and data-directory checks
// shared by `serve` and `check-config`.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig, type LoadedConfig } from '../config/load.ts';
import type { CommandArgs } from './types.ts';

/**
 * Loads the config named by the flags; `checkFiles: false` for commands that never open TLS files. A data
 * directory that is a file is refused here for every command (else each failed on its own first read with
 * a bare ENOTDIR).
 */
export function loadFromArgs(args: CommandArgs, checkFiles = true): LoadedConfig {
  const loaded = loadConfig({
    ...(args.configFile !== undefined ? { file: args.configFile } : {}),
    ...(args.dataDir !== undefined ? { dataDir: args.dataDir } : {}),
    checkFiles,
  });
  const st = statSync(loaded.dataDir, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) throw new ConfigError([`${dataDirSource(args, loaded)}: ${loaded.dataDir} is not a directory`]);
  return loaded;
}

/**
 * Where the data directory was given, to head a problem with it: the --data-dir flag when it was used
 * (it overrides the file, which then may not mention data_dir at all), else the config's data_dir key.
 */
export function dataDirSource(args: CommandArgs, loaded: LoadedConfig): string {
  return args.dataDir !== undefined ? '--data-dir' : `${loaded.file ?? '(embedded defaults)'}: data_dir`;
}

/**
 * Why the data directory cannot be used, or undefined: it must be a writable directory, or not exist
 * yet below a directory that can be created and written (serve creates it).
 */
export function dataDirProblem(dir: string): string | undefined {
  let probe = dir;
  // Bounded: one step per path component up to the root.
  for (let i = 0; i < 256; i++) {
    let st;
    try {
      st = statSync(probe);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return `${probe}: ${(err as Error).message}`;
      const parent = path.dirname(probe);
      if (parent === probe) return `${dir}: cannot be created`;
      probe = parent;
      continue;
    }
    if (!st.isDirectory()) return probe === dir ? `${dir} is not a directory` : `${dir} cannot be created: ${probe} is not a directory`;
    try {
      accessSync(probe, constants.W_OK | constants.X_OK);
    } catch {
      return probe === dir ? `${dir} is not writable` : `${dir} cannot be created: ${probe} is not writable`;
    }
    return undefined;
  }
  return `${dir}: path too deep`;
}
