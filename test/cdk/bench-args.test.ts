/** `npm run bench` arguments (bench/args.ts): the multi-Region row and its refusals. */
import { MULTI_REGION_LATENCY, parseBenchArgs } from '../../bench/args';

describe('bench arguments', () => {
  test('defaults: single-Region profile, no multi-Region row', () => {
    expect(parseBenchArgs([])).toMatchObject({ latencyProfile: 'dsql-single-region', multiRegion: false, concurrency: 10, workflows: 300, rounds: 2 });
  });

  test('--multi-region adds the row with dsql-local\'s dsql-multi-region figures (1.5 ms round trip, 20 ms commit)', () => {
    expect(parseBenchArgs(['--multi-region', '--workflows', '60']).multiRegion).toBe(true);
    expect(MULTI_REGION_LATENCY).toEqual({ roundTripMs: 1.5, commitMs: 20, jitter: 0.3 });
  });

  test('--multi-region with another profile, and bad numbers, are refused with the flag and the value', () => {
    expect(() => parseBenchArgs(['--multi-region', '--latency-profile', 'none']))
      .toThrow("--multi-region compares the dsql-multi-region latency with dsql-single-region in the same run: --latency-profile must be dsql-single-region (or unset), got 'none'");
    expect(() => parseBenchArgs(['--latency-profile', 'dsql-mars'])).toThrow("--latency-profile must be one of none, dsql-single-region, dsql-multi-region, got 'dsql-mars'");
    expect(() => parseBenchArgs(['--workflows', '5'])).toThrow("--workflows must be an integer from 10 to 100000, got '5'");
  });
});
