/**
 * Activities of the hello-activity sample. Activities run in the worker's normal Node.js
 * environment (not in the workflow sandbox) and may do I/O.
 */

/**
 * Returns a greeting for `name`.
 * @param name - who to greet; any string.
 * @returns `"Hello, <name>!"`.
 */
export async function greet(name: string): Promise<string> {
  return `Hello, ${name}!`;
}
