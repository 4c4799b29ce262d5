import type { PlatformConfigInput } from '../lib/config';
import { dev } from './dev';
import { prod } from './prod';

/**
 * The environments `-c env=<name>` can select. Add one by writing `config/<name>.ts` and listing
 * it here; its first synth writes `config/<name>.lock.json` (commit it).
 */
export const ENVIRONMENTS: Readonly<Record<string, PlatformConfigInput>> = { dev, prod };
