// Reads rules/*.yaml from the configured directories, validates each section, merges files in order.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { ConfigError, readFailure, readYamlText } from '../config/load.ts';
import { formatIssues, parseYamlFile, rootIsMap, type ParsedYaml } from '../config/yaml-errors.ts';

/** How one top-level key of a rules file is validated and merged across files. */
export interface RulesSection<T> {
  schema: z.ZodType<T>;
  /** Combine the value so far (undefined at first) with the next file's value. */
  merge(prev: T | undefined, next: T): T;
  /**
   * Completes one file's validated value with what depends on where it was written (files named relative to
   * the rules file, as the `lists` section's list files): problems are "file:line: ..." lines; `reads` are the
   * files it read, watched for changes like the rules files themselves.
   */
  resolve?(value: T, source: RulesSource): { value: T; problems: string[]; reads: string[] };
}

/** The rules file a section's value came from. */
export interface RulesSource {
  file: string;
  parsed: ParsedYaml;
  /** The section's key in the file. */
  key: string;
}

export const mergeRecords = <V>(prev: Record<string, V> | undefined, next: Record<string, V>): Record<string, V> => ({ ...prev, ...next });
export const concatLists = <V>(prev: V[] | undefined, next: V[]): V[] => [...(prev ?? []), ...next];
export const mergeObjects = <V extends object>(prev: V | undefined, next: V): V => ({ ...prev, ...next }) as V;

export type SectionMap = Record<string, RulesSection<unknown>>;

/** Merged, validated values by section key, plus where each rule file came from. */
export interface RawRules {
  sections: Map<string, unknown>;
  files: string[];
  /** Other files the sections read (list files): watched for changes with the rules files. */
  reads: string[];
}

export function listRuleFiles(dirs: readonly string[]): string[] {
  const files: string[] = [];
  for (const dir of dirs) {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch (err) {
      throw new ConfigError([`${dir}: cannot read rules directory (rules_dirs): ${readFailure(err)}`]);
    }
    for (const name of entries.sort()) if (/\.ya?ml$/.test(name)) files.push(path.join(dir, name));
  }
  return files;
}

/** Loads every rules file; all problems of all files are reported at once. */
export function loadRuleFiles(dirs: readonly string[], sections: SectionMap): RawRules {
  const files = listRuleFiles(dirs);
  const problems: string[] = [];
  const merged = new Map<string, unknown>();
  const reads: string[] = [];
  for (const file of files) {
    // Bounded like a config file: a rules file is parsed whole, and a huge one would stall every reload.
    let text: string;
    try {
      text = readYamlText(file, 'rules file');
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
      continue;
    }
    const parsed = parseYamlFile(file, text);
    if (parsed.syntaxErrors.length) {
      problems.push(...parsed.syntaxErrors);
      continue;
    }
    if (!rootIsMap(parsed)) {
      problems.push(`${file}: (top level): expected a mapping of sections`);
      continue;
    }
    const doc = (parsed.value ?? {}) as Record<string, unknown>;
    for (const [key, value] of Object.entries(doc)) {
      const section = sections[key];
      if (!section) {
        problems.push(`${file}: ${key}: unknown section (expected one of ${Object.keys(sections).join(', ')})`);
        continue;
      }
      const result = section.schema.safeParse(value);
      if (!result.success) {
        problems.push(...formatIssues(parsed, result.error.issues, [key]));
        continue;
      }
      let data = result.data;
      if (section.resolve) {
        const resolved = section.resolve(data, { file, parsed, key });
        reads.push(...resolved.reads);
        if (resolved.problems.length) {
          problems.push(...resolved.problems);
          continue;
        }
        data = resolved.value;
      }
      merged.set(key, section.merge(merged.get(key), data));
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return { sections: merged, files, reads: [...new Set(reads)] };
}
