/**
 * The Temporal UI login on real parts (issue 14): the local stack in authenticated mode (real
 * OpenID provider from oidc-provider, our server with Temporal's default JWT authorizer, TLS to
 * the frontend), upstream's UI server (local/ui-server) configured for OIDC the way the ECS task is
 * (provider URL, client id, client secret, callback URL, scopes) and holding no token of its own,
 * and headless Chromium (Debian's /usr/bin/chromium through playwright-core). The user logs in on the
 * provider's login page; the workflow list then shows a workflow started beforehand, which the UI
 * can only read with the logged-in user's token (`temporal-system:read`, `default:read`). A screenshot is kept at
 * test-results/e2e-ui-login/workflow-list.png.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { chromium, BrowserContext } from 'playwright-core';
import { FRONTEND_SERVER_NAME } from '../../local/certs';
import { freePort, ManagedProcess, startProcess, waitFor } from '../../local/process';
import { CHROMIUM_ARGS, DEFAULT_CHROMIUM } from '../../local/screenshot';
import { buildUiServer } from '../../local/build';
import { ROOT } from '../../local/paths';
import { LocalStack, startLocalStack } from '../../local/stack';

const ARTIFACTS = join(ROOT, 'test-results', 'e2e-ui-login');
const UI_CLIENT_ID = 'temporal-ui';
const UI_CLIENT_SECRET = `ui-${randomUUID()}`;
/**
 * The login name and what the provider puts in its token's permissions claim. The UI lists
 * namespaces and reads cluster info first, cluster-scoped APIs that Temporal's default authorizer
 * allows only with a system role: without `temporal-system:read` the frontend answers 403 and the
 * UI goes back to its login page (seen here first; docs/security.md).
 */
const USER = 'alice';
const USER_PERMISSIONS = ['temporal-system:read', 'default:read'];

let stack: LocalStack;
let ui: ManagedProcess;
let uiUrl: string;
let browser: BrowserContext | undefined;
let connection: Connection | undefined;
const profiles: string[] = [];

jest.setTimeout(3 * 60_000);

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const uiPort = await freePort();
  uiUrl = `http://127.0.0.1:${uiPort}`;
  const uiBin = buildUiServer();
  stack = await startLocalStack({
    dir: join(ARTIFACTS, 'stack'),
    ui: false,
    oidc: {
      clients: [{
        client_id: UI_CLIENT_ID,
        client_secret: UI_CLIENT_SECRET,
        redirect_uris: [`${uiUrl}/auth/sso/callback`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      }],
      users: { [USER]: USER_PERMISSIONS },
    },
  });
  const secretFile = join(ARTIFACTS, 'ui-client-secret');
  writeFileSync(secretFile, UI_CLIENT_SECRET, { mode: 0o600 });
  ui = startProcess({
    name: 'temporal-ui-server (OIDC)',
    command: await uiBin,
    args: [
      '-temporal-address', stack.temporalAddress, '-port', String(uiPort), '-namespace', 'default',
      '-tls-ca-file', join(stack.auth!.tls.dir, 'ca.pem'), '-tls-server-name', FRONTEND_SERVER_NAME,
      '-oidc-issuer', stack.auth!.oidc.issuer, '-oidc-client-id', UI_CLIENT_ID, '-oidc-client-secret-file', secretFile,
      '-oidc-callback-url', `${uiUrl}/auth/sso/callback`, '-oidc-scopes', 'openid,profile,email',
    ],
    logFile: join(ARTIFACTS, 'temporal-ui.log'),
  });
  await waitFor(`Temporal UI on ${uiUrl}`, async () => (await fetch(`${uiUrl}/healthz`)).ok, { timeoutMs: 60_000, proc: ui });
}, 20 * 60_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await connection?.close().catch(() => undefined);
  await ui?.stop(5_000).catch(() => undefined);
  await stack?.stop();
  for (const p of profiles) rmSync(p, { recursive: true, force: true });
}, 120_000);

test('login through the OpenID provider lands on the workflow list, which shows workflows read with the user\'s token', async () => {
  // A workflow to find in the list (started with the stack's admin client; no worker needed).
  connection = await Connection.connect(stack.clientOptions);
  const client = new Client({ connection, namespace: 'default' });
  const workflowId = `ui-login-${randomUUID()}`;
  await client.workflow.start('UiLoginProbe', { taskQueue: 'ui-login', workflowId, args: [] });

  const profile = mkdtempSync(join(tmpdir(), 'ui-login-chromium-'));
  profiles.push(profile);
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? DEFAULT_CHROMIUM, args: [...CHROMIUM_ARGS], headless: true, viewport: { width: 1440, height: 900 },
  });
  const page = await browser.newPage();

  // Before login the UI has no user token: the server-side session check sends the browser to its login page.
  const visited: string[] = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) visited.push(f.url()); });
  await page.goto(`${uiUrl}/namespaces/default/workflows`, { waitUntil: 'domcontentloaded' });
  await page.waitForURL((u) => u.pathname.startsWith('/login') || u.origin === stack.auth!.oidc.issuer, { timeout: 30_000 });

  // The UI's SSO entry point redirects to the provider; its login page takes any name and password.
  await page.goto(`${uiUrl}/auth/sso`, { waitUntil: 'domcontentloaded' });
  await page.waitForURL((u) => u.origin === stack.auth!.oidc.issuer, { timeout: 30_000 });
  await page.locator('input[name="login"]').fill(USER);
  await page.locator('input[name="password"]').fill('any');
  await page.locator('button[type="submit"]').click();
  // Consent for the UI client (oidc-provider's development interaction), when asked.
  await page.waitForLoadState('domcontentloaded');
  if (new URL(page.url()).origin === stack.auth!.oidc.issuer) {
    await page.locator('button[type="submit"]').click({ timeout: 15_000 });
  }

  // Back in the UI: the callback stored the session; open the workflow list.
  await page.waitForURL((u) => u.origin === uiUrl, { timeout: 30_000 });
  await page.goto(`${uiUrl}/namespaces/default/workflows`, { waitUntil: 'domcontentloaded' });
  await page.getByText(workflowId).first().waitFor({ state: 'visible', timeout: 45_000 });
  const shot = join(ARTIFACTS, 'workflow-list.png');
  await page.screenshot({ path: shot, fullPage: true });

  const bodyText = await page.locator('body').innerText();
  expect(bodyText).toContain(workflowId);
  expect(new URL(page.url()).pathname).toBe('/namespaces/default/workflows');
  // The path went through the provider's login page.
  expect(visited.some((u) => u.startsWith(stack.auth!.oidc.issuer))).toBe(true);
  await client.workflow.getHandle(workflowId).terminate('ui-login test done');
});
