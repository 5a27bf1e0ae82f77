// Loads the YAML config (or the embedded defaults), validates it whole and returns a frozen snapshot.
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema, type Config } from './schema.ts';
import { checkConfigFiles, resolveConfigPaths, rulesDirProblems, type FileProblem } from './file-checks.ts';
import { formatIssues, formatPath, lineOf, parseYamlFile, rootIsMap, type ParsedYaml } from './yaml-errors.ts';
import { readBounded } from '../util/read-bounded.ts';

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
  /** data_dir as the file (or inline config) gives it, absolute, before --data-dir overrides it. */
  configuredDataDir: string;
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

/** A config or rules file larger than this is refused before it is read (a real one is a few kilobytes). */
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

/**
 * The text of a YAML file spamgate reads (a config or rules file), or a ConfigError saying why it cannot
 * be one: missing, unreadable, a directory, larger than `max` (checked while reading, so a device such as
 * /dev/zero is refused too) or binary.
 */
export function readYamlText(file: string, what: string, max = MAX_CONFIG_BYTES): string {
  let text: string;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw new ConfigError([`${file}: is a directory; give the path of a YAML ${what}`]);
    if (st.isFile() && st.size > max) throw new ConfigError([`${file}: is ${st.size} bytes; a ${what} is at most ${max}`]);
    text = readBounded(file, max + 1).toString('utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([`${file}: cannot read ${what}: ${readFailure(err)}`]);
  }
  if (text.length > max) throw new ConfigError([`${file}: larger than ${max} bytes; not a ${what}`]);
  if (text.includes('\u0000') || text.includes('\ufffd')) throw new ConfigError([`${file}: not UTF-8 text (a binary file?)`]);
  return text;
}

/** Why a file could not be read, in words for the common cases. */
export function readFailure(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'is a directory' : e.code === 'ENOTDIR' ? 'not a directory' : e.message;
}

/** The text of a config file, or a ConfigError saying why it cannot be one (see readYamlText; also empty). */
function readConfigText(file: string): string {
  const text = readYamlText(file, 'config file');
  // Comments only or nothing: most likely a truncated write; running on the embedded defaults instead
  // of the intended config would be worse than refusing. `{}` says "all defaults" on purpose.
  if (text.split('\n').every((line) => /^\s*(#.*)?$/.test(line))) {
    throw new ConfigError([`${file}: the file is empty (no settings); write {} to run on the embedded defaults`]);
  }
  return text;
}

/**
 * Problems found after the load (check-config's warnings) in the words of the load's own: "file:line: key:
 * message". The file is read again for the lines; gone since, the problems are named without one.
 */
export function describeFileProblems(file: string | undefined, problems: readonly FileProblem[]): string[] {
  if (file === undefined) return problems.map((p) => `(embedded defaults): ${formatPath(p.path)}: ${p.message}`);
  let parsed: ParsedYaml | undefined;
  try {
    parsed = parseYamlFile(file, readConfigText(file));
  } catch {
    parsed = undefined;
  }
  return problems.map((p) => (parsed ? fileProblem(parsed, p) : `${file}: ${formatPath(p.path)}: ${p.message}`));
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
  const rulesDirs = (config.rules_dirs ?? [SHIPPED_RULES_DIR]).map((d) => path.resolve(baseDir, d));
  if (opts.checkFiles !== false) {
    const problems = [...checkConfigFiles(config), ...(config.rules_dirs !== undefined ? rulesDirProblems(rulesDirs) : [])];
    if (problems.length) throw new ConfigError(format(problems));
  }
  const configuredDataDir = path.resolve(baseDir, config.data_dir);
  const dataDir = path.resolve(opts.dataDir ?? configuredDataDir);
  const loaded: LoadedConfig = { config: deepFreeze({ ...config, data_dir: dataDir }), rulesDirs, dataDir, configuredDataDir };
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
