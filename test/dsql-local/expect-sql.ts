/**
 * Assertions for the dsql-local conformance suite: a promise rejects with a PostgreSQL error of a
 * given SQLSTATE and (optionally) a message fragment such as DSQL's "(OC000)".
 */
import { Client } from 'pg';

/** The fields of a node-postgres DatabaseError we assert on. */
export interface SqlError {
  code: string;
  message: string;
  severity?: string;
}

/**
 * Awaits `p` and returns the error it rejected with; fails the test if it resolved or the error
 * has another SQLSTATE or lacks `messagePart`.
 */
export async function expectSqlError(p: Promise<unknown>, code: string, messagePart?: string | RegExp): Promise<SqlError> {
  let err: SqlError | undefined;
  try {
    await p;
  } catch (e) {
    err = e as SqlError;
  }
  if (!err) throw new Error(`expected SQLSTATE ${code}, but the statement succeeded`);
  const pattern = typeof messagePart === 'string' ? new RegExp(messagePart.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : messagePart;
  expect({ code: err.code, message: err.message }).toEqual({ code, message: pattern === undefined ? expect.any(String) : expect.stringMatching(pattern) });
  return err;
}

/** Runs `sql` and expects DSQL's error; then checks the session is still usable. */
export async function expectRefused(client: Client, sql: string, code: string, messagePart?: string | RegExp): Promise<void> {
  await expectSqlError(client.query(sql), code, messagePart);
  const r = await client.query('SELECT 1 AS ok');
  expect(r.rows[0].ok).toBe(1);
}
