// The settings page against the real backend (sim board) started by global-setup, and the time
// to first frame. Independent of the other spec files' order: it logs in over the API as the
// owner (admin/admin, or the password real.spec.ts gives it) only to make its own accounts, and
// leaves the owner's password alone.
import type { APIRequestContext, Browser, Page } from '@playwright/test';
import { enc, login } from './board';
import { test, expect } from './fixtures';

test.describe.configure({ mode: 'serial' });

const OWNER_PASSWORDS = ['admin', 'e2e-Secret-123'];
const ADMIN = { name: 'settings-admin', password: 'settings-Admin-1' };
const VIEWER = { name: 'settings-viewer', password: 'settings-Viewer-1' };
const USER = { name: 'settings-user', password: 'settings-User-1' };

type Envelope<T = unknown> = { code: number; msg: string; data: T };

async function api<T = unknown>(r: APIRequestContext, method: string, path: string, data?: unknown): Promise<Envelope<T>> {
  const res = await r.fetch(path, { method, data });
  expect(res.status(), `${method} ${path}`).toBe(200);
  return (await res.json()) as Envelope<T>;
}

/** Our admin account, made with the owner's session over the API (once per backend). */
test.beforeAll(async ({ playwright, baseURL }) => {
  const r = await playwright.request.newContext({ baseURL });
  try {
    let logged = false;
    for (const password of OWNER_PASSWORDS) {
      const a = await api(r, 'POST', '/api/auth/login', { username: 'admin', password: enc(password) });
      if (a.code === 0) {
        if (password === 'admin') {
          // a fresh backend: the server opens nothing else until the default password is changed
          await r.post('/api/auth/password', { data: { currentPassword: enc('admin'), password: enc(OWNER_PASSWORDS[1]) } });
          await r.post('/api/auth/login', { data: { username: 'admin', password: enc(OWNER_PASSWORDS[1]) } });
        }
        logged = true;
        break;
      }
    }
    expect(logged, 'the owner logs in with one of the known passwords').toBe(true);
    const made = await api(r, 'POST', '/api/auth/users', { username: ADMIN.name, password: enc(ADMIN.password), role: 'admin' });
    expect([0, -3]).toContain(made.code); // -3: username already exists (a rerun on a kept server)
  } finally {
    await r.dispose();
  }
});

async function openSettings(page: Page, section?: string) {
  await page.getByRole('button', { name: 'Settings' }).click();
  await expect(page).toHaveURL(/#\/settings$/);
  if (section) await page.getByRole('tab', { name: section }).click();
}

const panel = (page: Page) => page.getByTestId('settings-panel');
/** A success line with this text, in whichever card said it. */
const said = (page: Page, text: string) => expect(panel(page).getByRole('status').filter({ hasText: text })).toBeVisible();

test('admin: hostname and web title are applied', async ({ page }) => {
  await login(page, ADMIN);
  await openSettings(page, 'Device');
  const p = panel(page);
  const original = (await api<{ hostname: string }>(page.request, 'GET', '/api/vm/hostname')).data.hostname;

  // the hostname rule is checked before anything is sent
  await p.getByLabel('Hostname').fill('-bad-');
  await p.getByRole('button', { name: 'Save hostname' }).click();
  await expect(p.getByRole('alert')).toContainText("not starting or ending with '-'");
  expect((await api<{ hostname: string }>(page.request, 'GET', '/api/vm/hostname')).data.hostname).toBe(original);

  const name = `kvm-e2e-${Date.now() % 100000}`;
  await p.getByLabel('Hostname').fill(name);
  await p.getByRole('button', { name: 'Save hostname' }).click();
  await said(page, `Hostname set to ${name}.`);
  expect((await api<{ hostname: string }>(page.request, 'GET', '/api/vm/hostname')).data.hostname).toBe(name);

  // with mDNS on, the device announces <hostname>.local: the desktop's top bar shows it
  const mdns = p.getByRole('switch', { name: 'mDNS' });
  await mdns.check();
  await said(page, 'mDNS on.');
  await expect(p.getByTestId('mdns-name')).toHaveText(`${name}.local`);

  // web title: the tab's title follows, also after a reload (read back from the server)
  await p.getByLabel('Web title').fill('E2E Rack 7');
  await p.getByRole('button', { name: 'Save title' }).click();
  await said(page, 'Web title set to E2E Rack 7.');
  await expect(page).toHaveTitle('E2E Rack 7');
  await page.screenshot({ path: test.info().outputPath('kvm-e2e-settings-device.png'), fullPage: true });
  await page.reload();
  await expect(page).toHaveTitle('E2E Rack 7');
  await page.getByRole('button', { name: 'Back to desktop' }).click();
  await expect(page.getByTitle('Device', { exact: true })).toHaveText(`${name}.local`);
  expect((await api<{ title: string }>(page.request, 'GET', '/api/vm/web-title')).data.title).toBe('E2E Rack 7');

  // back to the default title, mDNS off, the old name
  await openSettings(page, 'Device');
  await p.getByRole('button', { name: 'Use default' }).click();
  await said(page, 'Web title reset.');
  await expect(page).toHaveTitle('KVM');
  expect((await api(page.request, 'GET', '/api/vm/web-title')).code).toBe(-1); // unset, as NanoKVM
  await p.getByRole('switch', { name: 'mDNS' }).uncheck();
  await said(page, 'mDNS off.');
  expect((await api(page.request, 'POST', '/api/vm/hostname', { hostname: original })).code).toBe(0);
});

test('screen quality, frame rate and frame detect are applied and read back through the API', async ({ page }) => {
  await login(page, ADMIN);
  await openSettings(page, 'Screen');
  const p = panel(page);
  type Screen = { quality: number; fps: number; resolution: number };
  const screen = async () => (await api<Screen>(page.request, 'GET', '/api/vm/screen')).data;
  expect(await screen()).toMatchObject({ quality: 80, fps: 30, resolution: 0 });
  await expect(p.getByLabel('Quality')).toHaveValue('80');

  await p.getByLabel('Quality').selectOption('60');
  await said(page, 'Saved.');
  await expect.poll(async () => (await screen()).quality).toBe(60);
  await p.getByLabel('Frame rate').selectOption('15');
  await expect.poll(async () => (await screen()).fps).toBe(15);
  await expect(p.getByLabel('Frame rate')).toHaveValue('15');

  await p.getByRole('switch', { name: 'Frame detect' }).check();
  await said(page, 'Frame detect on.');
  expect((await api<{ enabled: boolean }>(page.request, 'GET', '/api/stream/mjpeg/detect')).data.enabled).toBe(true);
  await page.screenshot({ path: test.info().outputPath('kvm-e2e-settings-screen.png'), fullPage: true });

  // a fresh page shows what the server uses, not what this page remembers
  await page.reload();
  await expect(p.getByLabel('Quality')).toHaveValue('60');
  await expect(p.getByLabel('Frame rate')).toHaveValue('15');
  await expect(p.getByRole('switch', { name: 'Frame detect' })).toBeChecked();

  // frame detect off again (a still screen then streams at the set rate)
  await p.getByRole('switch', { name: 'Frame detect' }).uncheck();
  await said(page, 'Frame detect off.');

  // the stream really runs at 15 fps now: count its parts for 2 s in the page (same cookie)
  const frames = await page.evaluate(async () => {
    const ctrl = new AbortController();
    const stop = setTimeout(() => ctrl.abort(), 4000); // never hang: frame detect may hold frames back
    let n = 0;
    try {
      const reader = (await fetch('/api/stream/mjpeg', { signal: ctrl.signal })).body!.getReader();
      const text = new TextDecoder('latin1');
      let started = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        started ||= performance.now();
        if (performance.now() - started > 2000) break;
        n += (text.decode(value).match(/--frame/g) ?? []).length;
      }
    } catch {
      /* aborted */
    } finally {
      clearTimeout(stop);
      ctrl.abort();
    }
    return n;
  });
  expect(frames).toBeGreaterThan(15 * 2 * 0.5);
  expect(frames).toBeLessThanOrEqual(15 * 2 + 2);

  // back to the defaults, through the page
  await p.getByLabel('Quality').selectOption('80');
  await expect.poll(async () => (await screen()).quality).toBe(80);
  await p.getByLabel('Frame rate').selectOption('30');
  await expect.poll(async () => (await screen()).fps).toBe(30);
});

test('admin: the mouse jiggler switches on, changes mode and off', async ({ page }) => {
  await login(page, ADMIN);
  await openSettings(page, 'Keyboard & mouse');
  const p = panel(page);
  type Jiggler = { enabled: boolean; mode: string };
  const jiggler = async () => (await api<Jiggler>(page.request, 'GET', '/api/vm/mouse-jiggler')).data;
  expect(await jiggler()).toEqual({ enabled: false, mode: 'absolute' });
  await expect(p.getByTestId('hid-mode')).toHaveCount(0); // an admin gets the control, not the value
  await expect(p.getByLabel('Devices the host sees')).toHaveValue('normal');

  const sw = p.getByRole('switch', { name: 'Mouse jiggler' });
  await sw.check();
  await said(page, 'Mouse jiggler on.');
  expect(await jiggler()).toEqual({ enabled: true, mode: 'absolute' });
  await p.getByLabel('Jiggle with').selectOption('relative');
  await expect.poll(async () => (await jiggler()).mode).toBe('relative');
  await page.screenshot({ path: test.info().outputPath('kvm-e2e-settings-jiggler.png'), fullPage: true });
  await sw.uncheck();
  await said(page, 'Mouse jiggler off.');
  expect((await jiggler()).enabled).toBe(false);
});

async function loginElsewhere(browser: Browser, baseURL: string | undefined, who: { name: string; password: string }) {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  await login(page, who);
  return { context, page };
}

test('admin adds a viewer; the viewer sees no controls; role change, password reset, delete', async ({ page, browser, baseURL }) => {
  await login(page, ADMIN);
  await openSettings(page, 'Users');
  const p = panel(page);
  await expect(p.getByTestId(`user-${ADMIN.name}`)).toContainText('you');
  await expect(p.getByTestId('user-admin')).toContainText('owner');

  const form = p.getByRole('form', { name: 'Add a user' });
  await form.getByLabel('User name').fill(VIEWER.name);
  await form.getByLabel('Role').selectOption('viewer');
  await form.getByLabel('Password', { exact: true }).fill(VIEWER.password);
  await form.getByLabel('Confirm password').fill('something-else');
  await form.getByRole('button', { name: 'Add user' }).click();
  await expect(form.locator('..').getByRole('alert')).toHaveText('The passwords do not match.');
  await form.getByLabel('Confirm password').fill(VIEWER.password);
  await form.getByRole('button', { name: 'Add user' }).click();
  await expect(p.getByText(`${VIEWER.name} added as viewer.`)).toBeVisible();
  const row = p.getByTestId(`user-${VIEWER.name}`);
  await expect(row.getByLabel(`Role of ${VIEWER.name}`)).toHaveValue('viewer');

  // the server's refusal is shown as it says it
  await form.getByLabel('User name').fill(VIEWER.name);
  await form.getByLabel('Password', { exact: true }).fill(VIEWER.password);
  await form.getByLabel('Confirm password').fill(VIEWER.password);
  await form.getByRole('button', { name: 'Add user' }).click();
  await expect(form.locator('..').getByRole('alert')).toHaveText('username already exists');
  await page.screenshot({ path: test.info().outputPath('kvm-e2e-settings-users.png'), fullPage: true });

  // the viewer, in a browser of its own: video and state, no controls anywhere
  const v = await loginElsewhere(browser, baseURL, VIEWER);
  await expect(v.page.getByTestId('screen')).toHaveAttribute('data-video', 'playing');
  await expect(v.page.getByRole('button', { name: 'Power', exact: true })).toHaveCount(0);
  await openSettings(v.page);
  const tabs = v.page.getByRole('tab');
  await expect(tabs).toHaveText(['Screen', 'Device', 'Keyboard & mouse', 'Your account', 'Security']);
  for (const name of ['Screen', 'Device', 'Keyboard & mouse']) {
    await v.page.getByRole('tab', { name }).click();
    await expect(panel(v.page).locator('section').first()).toBeVisible();
    await expect(panel(v.page).getByText('Loading…')).toHaveCount(0);
    await expect(panel(v.page).locator('button, input, select, textarea')).toHaveCount(0);
  }
  await v.page.getByRole('tab', { name: 'Screen' }).click();
  await expect(v.page.getByTestId('screen-quality')).toHaveText('High (80, default)');
  await expect(v.page.getByTestId('screen-fps')).toHaveText('30 fps');
  await v.page.getByRole('tab', { name: 'Device' }).click();
  await expect(v.page.getByTestId('hostname')).not.toBeEmpty();
  await v.page.screenshot({ path: test.info().outputPath('kvm-e2e-settings-viewer.png'), fullPage: true });
  await v.page.getByRole('tab', { name: 'Your account' }).click();
  await expect(panel(v.page).getByTestId('account-user')).toHaveText(VIEWER.name);
  // the server agrees
  expect((await v.page.request.post('/api/vm/screen', { data: { type: 'fps', value: 10 } })).status()).toBe(403);

  // promoted to user: the viewer's session ends at once
  await row.getByLabel(`Role of ${VIEWER.name}`).selectOption('user');
  await expect(p.getByText(`${VIEWER.name} is now user.`)).toBeVisible();
  await expect(row.getByLabel(`Role of ${VIEWER.name}`)).toHaveValue('user');
  expect((await v.page.request.get('/api/auth/account')).status()).toBe(401);
  await v.context.close();

  // reset the password (checked first), then log in with the new one
  await row.getByRole('button', { name: `Reset password of ${VIEWER.name}` }).click();
  const dialog = page.getByRole('dialog', { name: `New password for ${VIEWER.name}` });
  await dialog.getByLabel('New password', { exact: true }).fill('short');
  await dialog.getByLabel('Confirm new password').fill('short');
  await dialog.getByRole('button', { name: 'Set password' }).click();
  await expect(dialog.getByRole('alert')).toContainText('8 and 72');
  await dialog.getByLabel('New password', { exact: true }).fill('renewed-Pass-9');
  await dialog.getByLabel('Confirm new password').fill('renewed-Pass-9');
  await dialog.getByRole('button', { name: 'Set password' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(p.getByText(`New password set for ${VIEWER.name}`)).toBeVisible();
  const u = await loginElsewhere(browser, baseURL, { name: VIEWER.name, password: 'renewed-Pass-9' });
  await expect(u.page.getByRole('button', { name: 'Power', exact: true })).toBeVisible(); // a user now
  await u.context.close();

  // delete: asked first
  await row.getByRole('button', { name: `Delete ${VIEWER.name}` }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Cancel' }).click();
  await expect(row).toBeVisible();
  await row.getByRole('button', { name: `Delete ${VIEWER.name}` }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
  await expect(row).toHaveCount(0);
  const users = (await api<{ users: { username: string }[] }>(page.request, 'GET', '/api/auth/users')).data.users;
  expect(users.map((x) => x.username)).not.toContain(VIEWER.name);
});

test('a user changes what users may; a refusal reads "not allowed"; Wake-on-LAN', async ({ page, browser, baseURL }) => {
  await login(page, ADMIN);
  const made = await api(page.request, 'POST', '/api/auth/users', { username: USER.name, password: enc(USER.password), role: 'user' });
  expect([0, -3]).toContain(made.code);
  const { context, page: up } = await loginElsewhere(browser, baseURL, USER);
  try {
    await openSettings(up);
    await expect(up.getByRole('tab')).toHaveText(['Screen', 'Device', 'Keyboard & mouse', 'Wake-on-LAN', 'Your account', 'Security']);
    const p = panel(up);
    await expect(p.getByLabel('Quality')).toBeEnabled();
    await expect(p.getByRole('switch', { name: 'Capture' })).toHaveCount(0); // HDMI on/off is admin's
    await expect(p.getByRole('button', { name: 'Restart capture' })).toBeVisible();
    await up.getByRole('tab', { name: 'Device' }).click();
    await expect(p.getByText('Only administrators can change the device settings.')).toBeVisible();
    await expect(p.locator('input, select')).toHaveCount(0);
    await up.getByRole('tab', { name: 'Keyboard & mouse' }).click();
    await expect(p.getByRole('switch', { name: 'Mouse jiggler' })).toHaveCount(0);

    // Wake-on-LAN: a bad MAC is caught here; a good one is sent and saved
    await up.getByRole('tab', { name: 'Wake-on-LAN' }).click();
    await p.getByLabel('MAC address').fill('00:11:22:33:44');
    await p.getByRole('button', { name: 'Wake', exact: true }).click();
    await expect(p.getByRole('alert')).toContainText('12 hex digits');
    await p.getByLabel('MAC address').fill('00-11-22-aa-bb-cc');
    await p.getByRole('button', { name: 'Wake', exact: true }).click();
    await said(up, 'Magic packet sent to 00:11:22:AA:BB:CC.');
    await expect(p.getByTestId('wol-00:11:22:AA:BB:CC')).toBeVisible();
    await expect(p.getByRole('button', { name: 'Rename' })).toHaveCount(0); // admin only
    await up.screenshot({ path: test.info().outputPath('kvm-e2e-settings-user-wol.png'), fullPage: true });

    // a 403 from the server (say, the role changed meanwhile) shows as "not allowed"
    await up.getByRole('tab', { name: 'Screen' }).click();
    await up.route('**/api/vm/screen', (route) =>
      route.request().method() === 'POST'
        ? route.fulfill({ status: 403, contentType: 'application/json', body: '"forbidden"' })
        : route.fallback());
    await p.getByLabel('Quality').selectOption('50');
    await expect(p.getByRole('alert')).toHaveText('Not allowed for your account.');
    await expect(p.getByLabel('Quality')).toHaveValue('80'); // read back: nothing changed
  } finally {
    await context.close();
  }
});

test('time to first frame on localhost', async ({ page }) => {
  await login(page, ADMIN);
  // In the page from its first script on: the moment the MJPEG <img> has a decoded frame,
  // on the navigation's clock (performance.now() counts from navigation start).
  await page.addInitScript(() => {
    const w = window as unknown as { __firstFrame?: number };
    const seen = (img: Element | null) => {
      if (w.__firstFrame === undefined && img instanceof HTMLImageElement && img.naturalWidth > 0) {
        w.__firstFrame = performance.now();
      }
    };
    document.addEventListener('load', (e) => seen(e.target as Element), true); // first multipart part
    const poll = () => {
      seen(document.querySelector('[data-testid="screen-img"]'));
      if (w.__firstFrame === undefined) requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  });
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    await page.goto('about:blank'); // each run a whole new document (a hash change would not be)
    await page.goto('/#/');
    const ms = await page.waitForFunction(() => (window as unknown as { __firstFrame?: number }).__firstFrame, null, { timeout: 20_000 });
    runs.push(Math.round((await ms.jsonValue()) as number));
  }
  await expect(page.getByTestId('screen')).toHaveAttribute('data-video', 'playing');
  const sorted = [...runs].sort((a, b) => a - b);
  const median = sorted[1];
  console.log(`time to first frame (localhost, navigation to first decoded MJPEG frame): ${median} ms median of ${runs.join(', ')} ms`);
  test.info().annotations.push({ type: 'metric', description: `time to first frame (localhost): ${median} ms (median of 3 navigations: ${runs.join(', ')} ms)` });
  await page.screenshot({ path: test.info().outputPath('kvm-e2e-first-frame.png') });
  expect(median).toBeLessThan(10_000);
});
