/**
 * The `archival` section of the configuration: history and visibility archival of closed workflows
 * to an S3 bucket the stack owns (lib/archival/archival.ts), written by upstream Temporal's `s3store`
 * archiver. Checked here rather than in `lib/config.ts` (which is past its ~600-line split point).
 */
import { bool, checkKeys, ConfigError, int, oneOf, optObject } from '../config-checks';

/**
 * S3 storage classes an archived object may move to (S3 lifecycle `Transition.StorageClass`): the
 * classes whose objects `GetObject` still reads at once. GLACIER (Flexible Retrieval) and
 * DEEP_ARCHIVE are left out: S3 answers `InvalidObjectState` until an object is restored, so the
 * frontend could no longer read archived history or list archived workflows.
 * Source: Amazon S3 user guide, "Transitioning objects using Amazon S3 Lifecycle" and
 * "Working with archived objects".
 */
export const ARCHIVAL_STORAGE_CLASSES = ['STANDARD_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR'] as const;

/** One of {@link ARCHIVAL_STORAGE_CLASSES}. */
export type ArchivalStorageClass = (typeof ARCHIVAL_STORAGE_CLASSES)[number];

/**
 * S3 refuses a lifecycle transition to STANDARD_IA (and ONEZONE_IA) before an object is 30 days old
 * (Amazon S3 user guide, "Transitioning objects using Amazon S3 Lifecycle", constraints).
 */
export const MIN_DAYS_BEFORE_STANDARD_IA = 30;

/** Archival of closed workflows to S3 (docs/operations.md, "Archival"). */
export interface ArchivalInput {
  /**
   * Create the archive bucket and turn history and visibility archival on in the servers; new
   * namespaces archive to the bucket by default (`namespaceDefaults.archival`). @default true
   */
  readonly enabled?: boolean;
  /** Days after an archived object is written before it moves to `storageClass`. @default 30 */
  readonly transitionDays?: number;
  /**
   * Storage class archived objects move to after `transitionDays` (STANDARD_IA only from day 30).
   * @default 'GLACIER_IR' (Glacier Instant Retrieval: still read in milliseconds by GetWorkflowExecutionHistory)
   */
  readonly storageClass?: ArchivalStorageClass;
}

/** The resolved `archival` section. */
export interface ArchivalConfig {
  readonly enabled: boolean;
  readonly transitionDays: number;
  readonly storageClass: ArchivalStorageClass;
}

/** Default days before archived objects move to the cheaper class. */
export const DEFAULT_ARCHIVAL_TRANSITION_DAYS = 30;
/** Default class archived objects move to. */
export const DEFAULT_ARCHIVAL_STORAGE_CLASS: ArchivalStorageClass = 'GLACIER_IR';

/**
 * Fills the defaults of the `archival` section and checks it. `p` prefixes a field with the
 * environment name.
 * @throws ConfigError for an unknown key, a non-boolean `enabled`, `transitionDays` outside 0-36500,
 *   an unknown `storageClass`, or STANDARD_IA before day 30
 */
export function resolveArchival(p: (f: string) => string, input: unknown): ArchivalConfig {
  const a = optObject(p('archival'), input);
  checkKeys(p('archival'), a, ['enabled', 'transitionDays', 'storageClass']);
  const enabled = bool(p('archival.enabled'), a.enabled, true);
  const transitionDays = int(p('archival.transitionDays'), a.transitionDays ?? DEFAULT_ARCHIVAL_TRANSITION_DAYS, 0, 36500);
  const storageClass = oneOf(p('archival.storageClass'), a.storageClass, ARCHIVAL_STORAGE_CLASSES, DEFAULT_ARCHIVAL_STORAGE_CLASS);
  if (storageClass === 'STANDARD_IA' && transitionDays < MIN_DAYS_BEFORE_STANDARD_IA) {
    throw new ConfigError(p('archival.transitionDays'), transitionDays,
      `at least ${MIN_DAYS_BEFORE_STANDARD_IA} with storageClass STANDARD_IA (S3 refuses an earlier transition to it)`);
  }
  return { enabled, transitionDays, storageClass };
}
