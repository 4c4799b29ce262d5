/**
 * The local stack's command line: `npm run local` (up), `npm run local:stop` (down), `status`, and
 * `--dsql-endpoint` for a real Aurora DSQL cluster (local/real-cluster.ts).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LATENCY_PROFILES, LatencyProfile } from '../test/support/dsql-local';
import { ADMIN_PERMISSIONS } from './auth';
import { FRONTEND_SERVER_NAME } from './certs';
import { DEFAULT_STACK_DIR } from './paths';
import { isAlive, killGroup } from './process';
import { startLocalStack } from './stack';
import { childrenOf, readState, StackState } from './state';

const USAGE = `Usage: npm run local [-- options]       start the local stack and stay up until Ctrl-C
       npm run local:stop                 stop a stack started by npm run local
       npx tsx local/cli.ts status      print the addresses of a running stack
       npm run local -- --dsql-endpoint HOST --region R   the same against a real Aurora DSQL cluster (below)

Options of up:
  --dir DIR              logs, generated config and stack.json (default .local/stack)
  --temporal-port N      frontend gRPC port (default: a free port)
  --ui-port N            UI port (default: a free port)
  --no-ui                do not start the UI
  --num-history-shards N numHistoryShards (default 4)
  --latency-profile P    dsql-local's added latency: none (default), dsql-single-region, dsql-multi-region
  --no-auth              plaintext and no authorizer (default: TLS, a local OpenID provider and the JWT authorizer)
`;

function portArg(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 32767) {
    throw new Error(`--${name} must be an integer port from 1 to 32767 (Temporal stores ports as SMALLINT), got '${value}'`);
  }
  return n;
}

function printAddresses(s: StackState, seconds?: number): void {
  const lines = [
    seconds === undefined ? 'Local stack is running:' : `Local stack is up after ${seconds.toFixed(1)} s:`,
    `  Temporal frontend (gRPC)  ${s.temporalAddress}      export TEMPORAL_ADDRESS=${s.temporalAddress}`,
    `  Temporal UI               ${s.uiUrl ?? '(not started)'}`,
    `  OpenSearch                ${s.openSearchUrl}   index ${s.visibilityIndex}`,
    `  dsql-local                ${s.dsqlEndpoint}`,
    `  namespace                 default`,
    ...(s.clientEnv && s.tokenFile
      ? [
          '  Authenticated mode (TLS, JWT authorizer); SDK clients and samples need:',
          ...Object.entries(s.clientEnv).map(([k, val]) => `    export ${k}=${val}`),
          `    export TEMPORAL_API_KEY=$(cat ${s.tokenFile})   # admin token (temporal-system:admin, default:admin)`,
        ]
      : []),
    'Stop with Ctrl-C or `npm run local:stop`.',
  ];
  console.log(lines.join('\n'));
}

async function up(argv: string[]): Promise<number> {
  // A real Aurora DSQL cluster instead of dsql-local (local/real-cluster.ts).
  if (argv.some((a) => a === '--dsql-endpoint' || a.startsWith('--dsql-endpoint='))) return (await import('./real-cluster')).upRealCluster(argv);
  const { values: v } = parseArgs({
    args: argv,
    options: {
      dir: { type: 'string' },
      'temporal-port': { type: 'string' },
      'ui-port': { type: 'string' },
      'no-ui': { type: 'boolean' },
      'num-history-shards': { type: 'string' },
      'latency-profile': { type: 'string' },
      'no-auth': { type: 'boolean' },
    },
  });
  const latencyProfile = v['latency-profile'];
  if (latencyProfile !== undefined && !(LATENCY_PROFILES as readonly string[]).includes(latencyProfile)) {
    throw new Error(`--latency-profile must be one of ${LATENCY_PROFILES.join(', ')}, got '${latencyProfile}'`);
  }
  const dir = resolve(v.dir ?? DEFAULT_STACK_DIR);
  const existing = readState(dir);
  if (existing && isAlive(existing.pid)) {
    console.error(`A local stack is already running (pid ${existing.pid}) with state in ${dir}:`);
    printAddresses(existing);
    return 1;
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let shards: number | undefined;
  if (v['num-history-shards'] !== undefined) {
    shards = Number(v['num-history-shards']);
    if (!Number.isInteger(shards) || shards < 1 || shards > 16384) {
      throw new Error(`--num-history-shards must be an integer from 1 to 16384, got '${v['num-history-shards']}'`);
    }
  }
  // Ctrl-C during start-up: exit at once; the exit hook kills our processes and dsql-local and
  // OpenSearch stop when their stdin (a pipe from this process) closes.
  const abort = () => process.exit(130);
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  const t = Date.now();
  const stack = await startLocalStack({
    dir,
    temporalPort: portArg('temporal-port', v['temporal-port']),
    uiPort: portArg('ui-port', v['ui-port']),
    ui: !v['no-ui'],
    numHistoryShards: shards,
    dsql: latencyProfile === undefined ? undefined : { latencyProfile: latencyProfile as LatencyProfile },
    auth: !v['no-auth'],
    log: (m) => console.log(`[local] ${m}`),
  });
  let tokenFile: string | undefined;
  if (stack.auth) {
    tokenFile = join(dir, 'client-token');
    writeFileSync(tokenFile, await stack.auth.token(ADMIN_PERMISSIONS), { mode: 0o600 });
  }
  process.removeListener('SIGINT', abort);
  process.removeListener('SIGTERM', abort);
  const state: StackState = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    temporalAddress: stack.temporalAddress,
    uiUrl: stack.uiUrl,
    openSearchUrl: stack.openSearchUrl,
    visibilityIndex: stack.visibilityIndex,
    dsqlEndpoint: `${stack.dsql.hostname}:${stack.dsql.port} (CA ${stack.dsql.caFile}, fault API ${stack.dsql.controlUrl})`,
    children: childrenOf(process.pid),
    ...(stack.auth
      ? {
          clientEnv: {
            TEMPORAL_ADDRESS: stack.temporalAddress,
            TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(stack.auth.tls.dir, 'ca.pem'),
            TEMPORAL_TLS_SERVER_NAME: FRONTEND_SERVER_NAME,
          },
          tokenFile,
        }
      : {}),
  };
  writeFileSync(join(dir, 'stack.json'), JSON.stringify(state, null, 2));
  process.on('exit', () => rmSync(join(dir, 'stack.json'), { force: true }));
  writeFileSync(join(dir, 'timings.json'), JSON.stringify(stack.timings, null, 2));
  printAddresses(state, (Date.now() - t) / 1000);
  console.log(`Logs: ${dir}`);
  await new Promise<void>((resolveSignal) => {
    process.once('SIGINT', () => resolveSignal());
    process.once('SIGTERM', () => resolveSignal());
  });
  // Ctrl-C reaches npm and tsx too; when they exit first our stdout is a closed pipe: keep going.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  // A second Ctrl-C: stop now (the exit hook kills our processes; dsql-local and OpenSearch follow their stdin).
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));
  console.log('[local] stopping');
  const s = Date.now();
  await stack.stop();
  rmSync(join(dir, 'stack.json'), { force: true });
  console.log(`[local] stopped in ${((Date.now() - s) / 1000).toFixed(1)} s`);
  return 0;
}

async function down(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({ args: argv, options: { dir: { type: 'string' } } });
  const dir = resolve(v.dir ?? DEFAULT_STACK_DIR);
  const state = readState(dir);
  if (!state) {
    console.log(`No local stack state in ${dir}: nothing to stop.`);
    return 0;
  }
  const deadline = Date.now() + 90_000;
  if (isAlive(state.pid)) {
    console.log(`Stopping the local stack (pid ${state.pid})...`);
    process.kill(state.pid, 'SIGTERM');
    while (isAlive(state.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (isAlive(state.pid)) {
      console.log(`pid ${state.pid} did not stop within 90 s: killing it`);
      process.kill(state.pid, 'SIGKILL');
    }
  }
  // Whatever the orchestrator left behind (it was killed with SIGKILL, or crashed).
  const childDeadline = Date.now() + 30_000;
  let survivors = state.children.filter((c) => isAlive(c.pid));
  while (survivors.length > 0 && Date.now() < childDeadline) {
    await new Promise((r) => setTimeout(r, 200));
    survivors = survivors.filter((c) => isAlive(c.pid));
  }
  for (const c of survivors) {
    console.log(`killing leftover process ${c.pid} (${c.command})`);
    killGroup(c.pid, 'SIGKILL');
  }
  const killDeadline = Date.now() + 10_000;
  while (survivors.some((c) => isAlive(c.pid)) && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 100));
  const stuck = survivors.filter((c) => isAlive(c.pid));
  if (stuck.length > 0) {
    console.error(`still running after SIGKILL: ${stuck.map((c) => `${c.pid} (${c.command})`).join(', ')}`);
    return 1;
  }
  rmSync(join(dir, 'stack.json'), { force: true });
  console.log('Local stack stopped.');
  return 0;
}

async function status(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({ args: argv, options: { dir: { type: 'string' } } });
  const state = readState(resolve(v.dir ?? DEFAULT_STACK_DIR));
  if (!state || !isAlive(state.pid)) {
    console.log('No local stack is running.');
    return 1;
  }
  printAddresses(state);
  return 0;
}

if (require.main === module) {
  const [command = 'up', ...rest] = process.argv.slice(2);
  const commands: Record<string, (a: string[]) => Promise<number>> = { up, down, stop: down, status };
  if (command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    console.log((require('./real-cluster') as typeof import('./real-cluster')).REAL_CLUSTER_USAGE);
    process.exit(0);
  }
  const fn = commands[command] ?? (command.startsWith('--') ? up : undefined);
  if (!fn) {
    console.error(`unknown command '${command}'; allowed: up, down, status\n\n${USAGE}`);
    process.exit(2);
  }
  fn(command.startsWith('--') ? [command, ...rest] : rest).then(
    (code) => process.exit(code),
    (e) => {
      console.error(`[local] ${(e as Error).message}`);
      process.exit(1);
    },
  );
}

