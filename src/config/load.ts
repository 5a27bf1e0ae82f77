// Loads the YAML config (or the embedded defaults), validates it whole and returns a frozen snapshot.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema, type Config } from './schema.ts';
import { checkConfigFiles, resolveConfigPaths, type FileProblem } from './file-checks.ts';
import { formatIssues, formatPath, lineOf, parseYamlFile, rootIsMap, type ParsedYaml } from './yaml-errors.ts';

/** A config that failed validation: every problem, one per line, each naming file, key and cause. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: Config;
  /** The file it came from, or undefined for embedded defaults. */
  file?: string;
  /** Directories searched for rules/*.yaml, resolved to absolute paths. */
  rulesDirs: string[];
  /** Data directory, absolute. */
  dataDir: string;
}

/** The rules/ directory shipped with spamgate. */
export const SHIPPED_RULES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../rules');
export const SHIPPED_MODELS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../models');

export interface LoadOptions {
  file?: string;
  /** Overrides data_dir (the --data-dir flag). */
  dataDir?: string;
  /** Config as an object instead of a file (tests). */
  inline?: unknown;
  /**
   * Check the files the config names (TLS certificates and keys). On by default: `serve`, reload and
   * `check-config` need them; commands that only inspect the data directory turn it off.
   */
  checkFiles?: boolean;
}

/** A config file larger than this is refused before it is read (a real one is a few kilobytes). */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  let baseDir = process.cwd();
  if (opts.file !== undefined) {
    const parsed = parseYamlFile(opts.file, readConfigText(opts.file));
    if (parsed.syntaxErrors.length) throw new ConfigError(parsed.syntaxErrors);
    if (!rootIsMap(parsed)) throw new ConfigError([`${opts.file}: (top level): expected a mapping of keys, found ${describeRoot(parsed)}`]);
    baseDir = path.dirname(path.resolve(opts.file));
    const result = configSchema.safeParse(parsed.value ?? {});
    if (!result.success) throw new ConfigError(formatIssues(parsed, result.error.issues));
    return finish(result.data, baseDir, opts, (problems) => problems.map((p) => fileProblem(parsed, p)));
  }
  const result = configSchema.safeParse(opts.inline ?? {});
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `(inline config): ${formatPath(i.path)}: ${i.message}`));
  }
  return finish(result.data, baseDir, opts, (problems) => problems.map((p) => `(inline config): ${formatPath(p.path)}: ${p.message}`));
}

/** At most `max` bytes of a file, as UTF-8: a device or a pipe (/dev/zero) cannot make the read unbounded. */
function readBounded(file: string, max: number): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(max);
    let got = 0;
    for (let n = -1; n !== 0 && got < max; got += n) n = readSync(fd, buf, got, max - got, null);
    return buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The text of a config file, or a ConfigError saying why it cannot be one (missing, a directory, binary, empty). */
function readConfigText(file: string): string {
  let text: string;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new ConfigError([`${file}: is a directory; give the path of a YAML file`]);
    if (st.isFile() && st.size > MAX_CONFIG_BYTES) throw new ConfigError([`${file}: is ${st.size} bytes; a config file is at most ${MAX_CONFIG_BYTES}`]);
    text = readBounded(file, MAX_CONFIG_BYTES + 1);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    throw new ConfigError([`${file}: cannot read: ${why}`]);
  }
  if (text.length > MAX_CONFIG_BYTES) throw new ConfigError([`${file}: larger than ${MAX_CONFIG_BYTES} bytes; not a config file`]);
  if (text.includes('\u0000') || text.includes('\ufffd')) throw new ConfigError([`${file}: not UTF-8 text (a binary file?)`]);
  // Comments only or nothing: most likely a truncated write; running on the embedded defaults instead
  // of the intended config would be worse than refusing. `{}` says "all defaults" on purpose.
  if (text.split('\n').every((line) => /^\s*(#.*)?$/.test(line))) {
    throw new ConfigError([`${file}: the file is empty (no settings); write {} to run on the embedded defaults`]);
  }
  return text;
}

function describeRoot(parsed: ParsedYaml): string {
  const v = parsed.value;
  return Array.isArray(v) ? 'a list' : typeof v === 'string' ? `the text ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}` : JSON.stringify(v) ?? String(v);
}

function fileProblem(parsed: ParsedYaml, p: FileProblem): string {
  const line = lineOf(parsed, p.path);
  return `${parsed.file}${line ? `:${line}` : ''}: ${formatPath(p.path)}: ${p.message}`;
}

function finish(parsed: Config, baseDir: string, opts: LoadOptions, format: (problems: FileProblem[]) => string[]): LoadedConfig {
  const config = resolveConfigPaths(parsed, baseDir);
  if (opts.checkFiles !== false) {
    const problems = checkConfigFiles(config);
    if (problems.length) throw new ConfigError(format(problems));
  }
  const dataDir = path.resolve(opts.dataDir ?? path.resolve(baseDir, config.data_dir));
  const rulesDirs = (config.rules_dirs ?? [SHIPPED_RULES_DIR]).map((d) => path.resolve(baseDir, d));
  const loaded: LoadedConfig = { config: deepFreeze({ ...config, data_dir: dataDir }), rulesDirs, dataDir };
  if (opts.file !== undefined) loaded.file = path.resolve(opts.file);
  return Object.freeze(loaded);
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
