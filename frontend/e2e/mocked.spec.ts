// UI behaviour that the sim backend cannot easily produce (viewer role,
// 403, busy, session revoked mid-way): the real server still serves the
// page, but /api/* answers are faked with page.route.
import type { Page, Route } from '@playwright/test';
import { test, expect } from './fixtures';

type Handler = (route: Route) => unknown;

const ok = (data: unknown) => ({ status: 200, contentType: 'application/json', body: JSON.stringify({ code: 0, msg: 'success', data }) });
const fail = (code: number, msg: string) => ({ status: 200, contentType: 'application/json', body: JSON.stringify({ code, msg, data: null }) });

async function mockApi(page: Page, role: string, overrides: Record<string, Handler> = {}) {
  const routes: Record<string, Handler> = {
    'GET /api/auth/account': (r) => r.fulfill(ok({ username: 'alice', role })),
    'GET /api/auth/password': (r) => r.fulfill(ok({ isUpdated: true })),
    'GET /api/vm/gpio': (r) => r.fulfill(ok({ pwr: true, hdd: false })),
    'GET /api/vm/info': (r) =>
      r.fulfill(ok({ ips: [{ name: 'eth0', addr: '192.0.2.10', version: 'IPv4', type: 'Wired' }], mdns: 'kvm.local', image: 'v1.4.1', application: '2.5.0', deviceKey: '' })),
    'GET /api/vm/hardware': (r) => r.fulfill(ok({ version: 'PCIE' })),
    'POST /api/auth/logout': (r) => r.fulfill(ok(null)),
    ...overrides,
  };
  await page.route('**/api/**', (route) => {
    const req = route.request();
    const key = `${req.method()} ${new URL(req.url()).pathname}`;
    const h = routes[key];
    return h ? h(route) : route.fulfill(fail(-1, `unmocked ${key}`));
  });
}

test('viewer sees the LEDs but no power controls', async ({ page }) => {
  await mockApi(page, 'viewer');
  await page.goto('/');
  await expect(page.getByTestId('led-power')).toHaveAttribute('data-state', 'on');
  await expect(page.getByTestId('led-hdd')).toHaveAttribute('data-state', 'off');
  await expect(page.getByTestId('user')).toContainText('viewer');
  await expect(page.getByText('can view the state but not press')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Power' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Reset' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Force off' })).toHaveCount(0);
  await expect(page.getByTestId('footer')).toContainText('Application v2.5.0');
});

test('user gets controls; 403 shows "not allowed"; busy is reported', async ({ page }) => {
  let answer = { status: 403, contentType: 'application/json', body: '"forbidden"' };
  await mockApi(page, 'user', { 'POST /api/vm/gpio': (r) => r.fulfill(answer) });
  await page.goto('/');
  await page.getByRole('button', { name: 'Reset' }).click();
  await expect(page.getByRole('alert')).toContainText(/not allowed/i);
  await expect(page.getByTestId('user')).toBeVisible(); // still on the desktop

  answer = fail(-4, 'busy');
  await page.getByRole('button', { name: 'Power' }).click();
  await expect(page.getByRole('alert')).toContainText(/in progress/i);
});

test('buttons are disabled while a press is in progress; force off asks first', async ({ page }) => {
  const presses: unknown[] = [];
  await mockApi(page, 'admin', {
    'POST /api/vm/gpio': async (r) => {
      presses.push(r.request().postDataJSON());
      await new Promise((res) => setTimeout(res, 800));
      await r.fulfill(ok(null));
    },
  });
  await page.goto('/');
  const power = page.getByRole('button', { name: 'Power' });
  await power.click();
  await expect(power).toBeDisabled();
  await expect(page.getByRole('button', { name: 'Reset' })).toBeDisabled();
  await expect(power).toBeEnabled();

  await page.getByRole('button', { name: 'Force off' }).click();
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText('5 seconds');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  expect(presses).toEqual([{ type: 'power', duration: 800 }]);

  await page.getByRole('button', { name: 'Force off' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Force off' }).click();
  await expect(power).toBeEnabled();
  expect(presses).toEqual([{ type: 'power', duration: 800 }, { type: 'power', duration: 5000 }]);
});

test('a 401 while on the desktop returns to the login page', async ({ page }) => {
  let revoked = false;
  await mockApi(page, 'admin', {
    'GET /api/vm/gpio': (r) =>
      revoked
        ? r.fulfill({ status: 401, contentType: 'application/json', body: '"unauthorized"' })
        : r.fulfill(ok({ pwr: false, hdd: false })),
    'GET /api/auth/account': (r) =>
      revoked
        ? r.fulfill({ status: 401, contentType: 'application/json', body: '"unauthorized"' })
        : r.fulfill(ok({ username: 'alice', role: 'admin' })),
  });
  await page.goto('/');
  await expect(page.getByTestId('led-power')).toHaveAttribute('data-state', 'off');
  revoked = true;
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  await expect(page.getByText('session has ended')).toBeVisible();
  await expect(page).toHaveURL(/#\/login$/);
});

test('locked-out login shows the lockout message', async ({ page }) => {
  await mockApi(page, 'admin', {
    'GET /api/auth/account': (r) => r.fulfill({ status: 401, contentType: 'application/json', body: '"unauthorized"' }),
    'POST /api/auth/login': (r) => r.fulfill(fail(-5, 'Account locked due to too many failed attempts, please try again later')),
  });
  await page.goto('/');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill('whatever');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toContainText(/too many failed attempts/i);
});

test('voluntary password change can be cancelled', async ({ page }) => {
  await mockApi(page, 'user');
  await page.goto('/');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('heading', { name: 'Change password' })).toBeVisible();
  await expect(page).toHaveURL(/#\/password$/);
  // client-side checks before anything is sent
  await page.getByLabel('Current password').fill('old-password');
  await page.getByLabel('New password', { exact: true }).fill('new-password-1');
  await page.getByLabel('Confirm new password').fill('new-password-2');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('alert')).toHaveText('The new passwords do not match.');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('user')).toContainText('alice');
  await expect(page).toHaveURL(/#\/$/);
});
