// Full flow against the real backend (sim board) started by global-setup.
// The first login of a fresh --root is admin/admin with a forced password change.
import AES from 'crypto-js/aes.js'; // .js: plain Node ESM resolution
import { test, expect } from './fixtures';

test.describe.configure({ mode: 'serial' });

const NEW_PASSWORD = 'e2e-Secret-123';
const VIEWER = 'watcher';
const VIEWER_PASSWORD = 'viewer-Secret-1';
const enc = (p: string) => encodeURIComponent(AES.encrypt(p, 'nanokvm-sipeed-2024').toString());
const SHOT_DIR = process.env.E2E_SHOT_DIR ?? '/tmp';

test('a wrong password shows an error', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toHaveText(/invalid username or password/i);
  await expect(page).toHaveURL(/#\/login$/);
  await page.screenshot({ path: `${SHOT_DIR}/kvm-e2e-login-error.png` });
});

test('first login, forced password change, power on, log out', async ({ page }) => {
  await page.goto('/');

  // 1. admin/admin -> the server demands a new password
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill('admin');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('heading', { name: 'Change password' })).toBeVisible();
  await expect(page).toHaveURL(/#\/password$/);

  // the 8..72-byte policy is checked before anything is sent
  await page.getByLabel('Current password').fill('admin');
  await page.getByLabel('New password', { exact: true }).fill('short');
  await page.getByLabel('Confirm new password').fill('short');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('alert')).toContainText(/8 and 72/);

  // wrong current password -> -3 from the server
  await page.getByLabel('Current password').fill('wrong-current');
  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel('Confirm new password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('alert')).toContainText(/current password is incorrect/i);

  await page.getByLabel('Current password').fill('admin');
  await page.getByRole('button', { name: 'Change password' }).click();

  // 2. the server cleared the session: log in again with the new password
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  await expect(page.getByText('Password changed')).toBeVisible();
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();

  // 3. desktop
  await expect(page.getByTestId('user')).toContainText('admin');
  await expect(page).toHaveURL(/#\/$/);
  await expect(page.getByTestId('footer')).toContainText(/Application v\S+/);
  const led = page.getByTestId('led-power');
  await expect(led).toHaveAttribute('data-state', /^(on|off)$/);
  await expect(led).toHaveAttribute('data-state', 'off'); // sim host starts powered off

  // 4. short power press boots the sim host; the LED poll picks it up
  const power = page.getByRole('button', { name: 'Power', exact: true });
  await power.click();
  await expect(power).toBeDisabled();
  await expect(power).toBeEnabled({ timeout: 15_000 });
  await expect(page.getByText('Power pressed.')).toBeVisible();
  await expect(led).toHaveAttribute('data-state', 'on', { timeout: 20_000 });
  await page.screenshot({ path: `${SHOT_DIR}/kvm-e2e-desktop.png` });

  // a viewer account for the next test (admin API, same cookie as the page)
  const created = await page.request.post('/api/auth/users', {
    data: { username: VIEWER, password: enc(VIEWER_PASSWORD), role: 'viewer' },
  });
  expect(await created.json()).toMatchObject({ code: 0 });

  // 5. reload keeps the session (HttpOnly cookie)
  await page.reload();
  await expect(page.getByTestId('user')).toContainText('admin');

  // 6. log out -> login page, and the session is really gone
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  await page.goto('/#/');
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  const status = await page.evaluate(async () => (await fetch('/api/auth/account')).status);
  expect(status).toBe(401);
});

async function login(page: import('@playwright/test').Page, user: string, password: string) {
  await page.goto('/');
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

test('force off holds power for 5 s (confirmed first) and the host goes off', async ({ page }) => {
  await login(page, 'admin', NEW_PASSWORD);
  const led = page.getByTestId('led-power');
  const power = page.getByRole('button', { name: 'Power', exact: true });
  await expect(led).toHaveAttribute('data-state', /^(on|off)$/);
  if ((await led.getAttribute('data-state')) === 'off') {
    await power.click();
    await expect(led).toHaveAttribute('data-state', 'on', { timeout: 20_000 });
  }
  await expect(power).toBeEnabled({ timeout: 15_000 });
  const pressReq = page.waitForRequest((r) => r.url().endsWith('/api/vm/gpio') && r.method() === 'POST');
  await page.getByRole('button', { name: 'Force off' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Force off' }).click();
  expect((await pressReq).postDataJSON()).toEqual({ type: 'power', duration: 5000 });
  await expect(page.getByText('Holding power for 5 s')).toBeVisible();
  await expect(power).toBeDisabled();
  await expect(power).toBeEnabled({ timeout: 15_000 });
  await expect(led).toHaveAttribute('data-state', 'off', { timeout: 10_000 });
});

test('a viewer sees the power state but gets no buttons', async ({ page }) => {
  await login(page, VIEWER, VIEWER_PASSWORD);
  // accounts created by an admin may have to set their own password first
  const heading = page.getByRole('heading', { name: 'Change password' });
  const user = page.getByTestId('user');
  await expect(heading.or(user)).toBeVisible();
  if (await heading.isVisible()) test.skip(true, 'new accounts must change password first');
  await expect(user).toContainText('viewer');
  await expect(page.getByTestId('led-power')).toHaveAttribute('data-state', /^(on|off)$/);
  await expect(page.getByRole('button', { name: 'Power', exact: true })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Force off' })).toHaveCount(0);
  // the server agrees: a press is forbidden for this role
  const r = await page.request.post('/api/vm/gpio', { data: { type: 'power', duration: 100 } });
  expect(r.status()).toBe(403);
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
});
