/**
 * Where the local stack keeps things: the repository root, the state and log directory of the CLI,
 * the built binaries, the schema it applies, and the names it gives the database role and the index.
 */
import { join, resolve } from 'node:path';

/** Repository root. */
export const ROOT = resolve(__dirname, '..');
/** Default directory of the CLI's state file and logs. */
export const DEFAULT_STACK_DIR = join(ROOT, '.local', 'stack');
/** Where the binaries are built. */
export const BIN_DIR = join(ROOT, '.cache', 'bin');
/** Versioned DSQL schema applied by the schema runner (the same directory the CDK construct bundles). */
export const DSQL_SCHEMA_DIR = join(ROOT, 'schema', 'dsql', 'temporal', 'versioned');
/** Database role the servers log in as (never admin, as on AWS). */
export const SERVER_DB_ROLE = 'temporal_server';
/** Visibility index of the local stack. */
export const LOCAL_VISIBILITY_INDEX = 'temporal_visibility_v1_local';
