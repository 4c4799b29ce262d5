/**
 * Pure comparisons between the template and what the live index reports: which template fields are
 * missing from the index mapping, which have another type, and whether the index sort matches.
 */
import { FieldMapping, IndexTemplate } from './properties';

/** A template field whose live mapping differs (type or scaling factor). */
export interface FieldConflict {
  readonly field: string;
  readonly want: string;
  readonly got: string;
}

/** Result of comparing the template's fields with an index mapping. */
export interface MappingDiff {
  /** Template fields that the index does not have yet (can be added with POST <index>/_mapping). */
  readonly missing: Record<string, FieldMapping>;
  /** Template fields the index has with another type (cannot be changed in place). */
  readonly conflicts: FieldConflict[];
}

function describeField(f: FieldMapping | undefined): string {
  if (!f) return '(none)';
  if (f.type === 'scaled_float') return `scaled_float(${f.scaling_factor ?? '?'})`;
  return f.type ?? '(object)';
}

/**
 * Compares the template's fields with the live `mappings.properties` of an index. Fields that the
 * index has beyond the template (custom search attributes added by the server) are ignored.
 */
export function diffMapping(template: IndexTemplate, live: Record<string, FieldMapping> | undefined): MappingDiff {
  const missing: Record<string, FieldMapping> = {};
  const conflicts: FieldConflict[] = [];
  for (const [name, want] of Object.entries(template.mappings.properties)) {
    const got = live?.[name];
    if (!got) {
      missing[name] = want;
    } else if (describeField(got) !== describeField(want)) {
      conflicts.push({ field: name, want: describeField(want), got: describeField(got) });
    }
  }
  return { missing, conflicts };
}

/** The template's index sort fields, e.g. `['CloseTime', 'StartTime', 'RunId']`. */
export function templateSortFields(template: IndexTemplate): string[] {
  return (template.settings.index['sort.field'] as string[]).map(String);
}

/**
 * Reads `index.sort.field` from a flat-settings response (`GET <index>/_settings?flat_settings=true`),
 * where a list setting comes back either as an array or as numbered keys (`index.sort.field.0`).
 * Returns [] when the index has no sort.
 */
export function liveSortFields(flatSettings: Record<string, unknown>): string[] {
  const direct = flatSettings['index.sort.field'];
  if (Array.isArray(direct)) return direct.map(String);
  if (typeof direct === 'string') return [direct];
  const numbered: string[] = [];
  for (let i = 0; `index.sort.field.${i}` in flatSettings; i++) numbered.push(String(flatSettings[`index.sort.field.${i}`]));
  return numbered;
}

/** Joins a list for a message, cut after `max` items: `A, B, C (+4 more)`. */
export function listForMessage(items: string[], max = 5): string {
  const head = items.slice(0, max).join(', ');
  return items.length > max ? `${head} (+${items.length - max} more)` : head;
}
