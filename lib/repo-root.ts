/**
 * The repository's root directory, resolved from this file's place (`lib/`). Constructs find their
 * handler sources (`lambda/`), the schema (`schema/`), the server's files (`docker/`) and the shard-count
 * locks (`config/`) from it, wherever the folder that imports it sits under `lib/`.
 */
import * as path from 'path';

/** Absolute path of the repository root (the folder holding `package.json`). */
export const REPO_ROOT = path.resolve(__dirname, '..');
