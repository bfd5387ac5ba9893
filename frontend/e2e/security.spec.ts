// Security against the real backend: TOTP enrolment in Settings and a login with a code (codes
// computed here with node:crypto's HMAC, RFC 6238, not by the app); an API token created in
// Settings, used by curl spawned from the test, revoked there (curl then gets 401).
// Independent of the other spec files: it makes its own accounts with the owner's session.
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import type { APIRequestContext, Page } from '@playwright/test';
import { enc } from './board';
import { test, expect } from './fixtures';

test.describe.configure({ mode: 'serial' });

const OWNER_PASSWORDS = ['admin', 'e2e-Secret-123'];
const TOTP_USER = { name: 'sec-totp', password: 'sec-Totp-Pass-1' };
const TOKEN_USER = { name: 'sec-token', password: 'sec-Token-Pass-1' };

function base32(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of text.replace(/=+$/, '')) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const bytes: number[] = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** RFC 6238 (SHA-1, 30 s, 6 digits) with RFC 4226's dynamic truncation. */
function totp(secret: string, stepOffset = 0): string {
  const counter = Math.floor(Date.now() / 1000 / 30) + stepOffset;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', base32(secret)).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(value % 1_000_000).padStart(6, '0');
}

/** Wait into a fresh 30 s step when this one ends soon, so a code is not refused as stale. */
async function freshStep() {
  const left = 30 - ((Date.now() / 1000) % 30);
  if (left < 4) await new Promise((r) => setTimeout(r, left * 1000 + 300));
}

async function api(r: APIRequestContext, method: string, path: string, data?: unknown) {
  const res = await r.fetch(path, { method, data });
  expect(res.status(), `${method} ${path}`).toBe(200);
  return (await res.json()) as { code: number; msg: string; data: unknown };
}

test.beforeAll(async ({ playwright, baseURL }) => {
  const r = await playwright.request.newContext({ baseURL });
  try {
    let logged = false;
    for (const password of OWNER_PASSWORDS) {
      if ((await api(r, 'POST', '/api/auth/login', { username: 'admin', password: enc(password) })).code === 0) {
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
    for (const who of [TOTP_USER, TOKEN_USER]) {
      const made = await api(r, 'POST', '/api/auth/users', { username: who.name, password: enc(who.password), role: 'user' });
      expect([0, -3]).toContain(made.code);
    }
  } finally {
    await r.dispose();
  }
});

async function fillLogin(page: Page, who: { name: string; password: string }) {
  await page.goto('/');
  await page.getByLabel('Username').fill(who.name);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

async function openSecurity(page: Page) {
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.getByRole('tab', { name: 'Security' }).click();
}

test('TOTP: enrolment with a QR code and one code, then a login asks for the code', async ({ page }) => {
  await fillLogin(page, TOTP_USER);
  await expect(page.getByTestId('user')).toContainText(TOTP_USER.name);
  await openSecurity(page);
  const card = page.getByRole('region', { name: 'Two-factor login' });
  await card.getByRole('button', { name: 'Set up two-factor login' }).click();
  const qr = card.getByRole('img', { name: 'QR code for your authenticator app' });
  await expect(qr).toBeVisible();
  expect((await qr.boundingBox())?.width).toBeGreaterThan(100);
  const secret = (await card.getByTestId('totp-secret').textContent())!.trim();
  expect(secret).toMatch(/^[A-Z2-7]{16,}$/);

  // A wrong code first: refused, still off.
  await freshStep();
  const wrong = String((Number(totp(secret)) + 1) % 1_000_000).padStart(6, '0');
  await card.getByLabel('Code from the app').fill(wrong);
  await card.getByRole('button', { name: 'Turn on' }).click();
  await expect(card.getByRole('alert')).toContainText('invalid code');

  await freshStep();
  await card.getByLabel('Code from the app').fill(totp(secret));
  await card.getByRole('button', { name: 'Turn on' }).click();
  await expect(card.getByTestId('recovery-codes').getByRole('listitem')).toHaveCount(10);
  await page.screenshot({ path: test.info().outputPath('totp-recovery-codes.png') });
  await card.getByRole('button', { name: 'I have saved them' }).click();
  await expect(card).toContainText('Two-factor login is on');

  // Log out, log in again: the password alone is not enough.
  await page.context().clearCookies();
  await fillLogin(page, TOTP_USER);
  const code = page.getByLabel('Two-factor code');
  await expect(code).toBeVisible();
  await expect(page.getByTestId('user')).toHaveCount(0);
  // The code of the next step: the confirmation may have used this one (each code works once).
  await freshStep();
  await page.getByLabel('Password').fill(TOTP_USER.password);
  await code.fill(totp(secret, 1));
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('user')).toContainText(TOTP_USER.name);
});

test('API token: created in Settings, used by curl, revoked (curl then gets 401)', async ({ page, baseURL }) => {
  await fillLogin(page, TOKEN_USER);
  await expect(page.getByTestId('user')).toContainText(TOKEN_USER.name);
  await openSecurity(page);
  const card = page.getByRole('region', { name: 'API tokens' });
  // A user may not give a token more than its own role.
  await expect(card.getByLabel('Token role').locator('option')).toHaveText(['viewer', 'user']);
  await card.getByLabel('Name').fill('e2e curl');
  await card.getByLabel('Token role').selectOption('user');
  await card.getByRole('button', { name: 'Create token' }).click();
  const token = (await card.getByTestId('new-token').textContent())!.trim();
  expect(token).toMatch(/^nkt_/);
  await expect(card.getByRole('table', { name: 'API tokens' })).toContainText('e2e curl');

  const curl = (path: string, body?: string) => {
    const args = ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${token}`];
    if (body) args.push('-H', 'Content-Type: application/json', '-d', body);
    return execFileSync('curl', [...args, `${baseURL}${path}`], { encoding: 'utf8', timeout: 30_000 });
  };
  expect(curl('/api/vm/gpio')).toBe('200');
  expect(curl('/api/vm/gpio', '{"type":"power","duration":100}')).toBe('200');
  expect(curl('/api/auth/users')).toBe('403'); // a user's token is no admin

  await card.getByRole('button', { name: 'Done' }).click();
  await card.getByRole('button', { name: 'Revoke e2e curl' }).click();
  await expect(card.getByRole('status').filter({ hasText: 'Token e2e curl revoked.' })).toBeVisible();
  await expect(card.getByRole('table', { name: 'API tokens' })).toHaveCount(0);
  expect(curl('/api/vm/gpio')).toBe('401');
});
