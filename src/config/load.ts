// Loads the YAML config (or the embedded defaults), validates it whole and returns a frozen snapshot.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema, type Config } from './schema.ts';
import { formatIssues, parseYamlFile, rootIsMap } from './yaml-errors.ts';

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
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  let raw: unknown = {};
  let baseDir = process.cwd();
  if (opts.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError([`${opts.file}: cannot read: ${(err as Error).message}`]);
    }
    const parsed = parseYamlFile(opts.file, text);
    if (parsed.syntaxErrors.length) throw new ConfigError(parsed.syntaxErrors);
    if (!rootIsMap(parsed)) throw new ConfigError([`${opts.file}: (top level): expected a mapping of keys`]);
    raw = parsed.value ?? {};
    baseDir = path.dirname(path.resolve(opts.file));
    const result = configSchema.safeParse(raw);
    if (!result.success) throw new ConfigError(formatIssues(parsed, result.error.issues));
    return finish(result.data, baseDir, opts);
  }
  if (opts.inline !== undefined) raw = opts.inline;
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `(inline config): ${i.path.join('.') || '(top level)'}: ${i.message}`));
  }
  return finish(result.data, baseDir, opts);
}

function finish(config: Config, baseDir: string, opts: LoadOptions): LoadedConfig {
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
