// Full flow against the real backend (sim board) started by global-setup.
// The first login of a fresh --root is admin/admin with a forced password change.
import { test, expect } from './fixtures';

test.describe.configure({ mode: 'serial' });

const NEW_PASSWORD = 'e2e-Secret-123';
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
