/**
 * Error classification and the retry loop: what is retried (OCC, rate, connection) and what never
 * is (bugs and limits), with backoff bounded by the deadline.
 */
import { classifyError, DeadlineExceededError, describeError, withRetry } from '../../lambda/dsql/schema/errors';

test.each([
  [{ code: '40001', message: 'change conflicts with another transaction, please retry: (OC000)' }, 'occ'],
  [{ code: '40001', message: 'schema has been updated by another transaction, please retry: (OC001)' }, 'occ'],
  [{ code: '53400', message: 'unable to accept connection, rate exceeded' }, 'rate'],
  [{ code: '53300', message: 'too many connections' }, 'rate'],
  [{ code: '08006', message: 'connection failure' }, 'connection'],
  [{ code: '57P01', message: 'terminating connection due to administrator command' }, 'connection'],
  [{ code: 'ECONNRESET', message: 'read ECONNRESET' }, 'connection'],
  [{ message: 'Connection terminated unexpectedly' }, 'connection'],
  [{ code: '0A000', message: 'unsupported mode. please use CREATE INDEX ASYNC.' }, 'fatal'],
  [{ code: '42P01', message: 'relation "x" does not exist' }, 'fatal'],
  [{ code: '54000', message: 'transaction row limit exceeded' }, 'fatal'],
  [{ code: '25P02', message: 'current transaction is aborted' }, 'fatal'],
  [{ code: '28P01', message: 'password authentication failed' }, 'fatal'],
  [{ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND typo.dsql.us-east-1.on.aws' }, 'fatal'],
  [{ code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: "Hostname/IP does not match certificate's altnames" }, 'fatal'],
])('%j is %s', (err, cls) => {
  expect(classifyError(err)).toBe(cls);
});

test('describeError prefixes the SQLSTATE', () => {
  expect(describeError({ code: '0A000', message: 'unsupported\n  statement' })).toBe('SQLSTATE 0A000: unsupported statement');
  expect(describeError(new Error('plain'))).toBe('plain');
});

test('retries OCC until success, rethrows fatal errors at once, gives up at the deadline', async () => {
  let calls = 0;
  const ok = await withRetry('occ', async () => {
    calls++;
    if (calls < 4) throw Object.assign(new Error('conflict (OC000)'), { code: '40001' });
    return 'done';
  }, { deadline: Date.now() + 10_000, baseDelayMs: 1 });
  expect({ ok, calls }).toEqual({ ok: 'done', calls: 4 });

  calls = 0;
  const fatal = Object.assign(new Error('ddl and dml are not supported in the same transaction'), { code: '0A000' });
  await expect(withRetry('fatal', async () => { calls++; throw fatal; }, { deadline: Date.now() + 10_000 })).rejects.toBe(fatal);
  expect(calls).toBe(1);

  // The deadline on a fake clock (timers and Date.now advance only when the test says so), so a
  // busy machine cannot move it: the retries give up without sleeping past the deadline.
  calls = 0;
  jest.useFakeTimers({ now: 1_000_000 });
  try {
    const deadline = Date.now() + 300;
    const settled = withRetry('rate', async () => { calls++; throw Object.assign(new Error('rate exceeded'), { code: '53400' }); },
      { deadline, baseDelayMs: 20, maxDelayMs: 50 }).then(() => ({ err: undefined as unknown, at: Date.now() }), (e: unknown) => ({ err: e, at: Date.now() }));
    await jest.runAllTimersAsync();
    const { err, at } = await settled;
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect((err as Error).message).toMatch(/^rate: still failing at the deadline after \d+ attempts: SQLSTATE 53400: rate exceeded$/);
    expect(calls).toBeGreaterThan(1);
    expect(at).toBeLessThanOrEqual(deadline);
  } finally {
    jest.useRealTimers();
  }
});
