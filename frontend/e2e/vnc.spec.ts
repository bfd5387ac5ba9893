// noVNC (npm @novnc/novnc, loaded lazily by the page) over the app's own RFB WebSocket, in Chromium,
// against a board of this spec's own: "Open in VNC" shows the sim PC's screen and types on it; the
// settings page lists the VNC server. The session cookie is the only sign-in.
import { request as apiRequest, type APIRequestContext } from '@playwright/test';
import { enc } from './board';
import { test as base, expect } from './fixtures';
import { startBackend, type Backend } from './global-setup';

const ADMIN_PASSWORD = 'vnc-Secret-123';
let api: APIRequestContext;

async function ok<T>(r: Promise<import('@playwright/test').APIResponse>): Promise<T> {
  const body = await (await r).json();
  if (body.code !== 0) throw new Error(`${body.msg}`);
  return body.data as T;
}

const test = base.extend<object, { board: Backend }>({
  board: [
    async ({}, use) => { // eslint-disable-line no-empty-pattern
      const backend = await startBackend();
      try {
        api = await apiRequest.newContext({ baseURL: backend.url });
        await ok(api.post('/api/auth/login', { data: { username: 'admin', password: enc('admin') } }));
        await ok(api.post('/api/auth/password', { data: { currentPassword: enc('admin'), password: enc(ADMIN_PASSWORD) } }));
        await ok(api.post('/api/auth/login', { data: { username: 'admin', password: enc(ADMIN_PASSWORD) } }));
        await ok(api.post('/api/vm/gpio', { data: { type: 'power', duration: 800 } }));
        await use(backend);
      } finally {
        await api?.dispose();
        await backend.stop();
      }
    },
    { scope: 'worker', timeout: 120_000 },
  ],
  baseURL: async ({ board }, use) => use(board.url),
});
test.describe.configure({ mode: 'serial' });

test('noVNC over /api/vnc/ws shows the screen and types on the host', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('user')).toContainText('admin');
  await expect.poll(async () => (await ok<{ power: string }>(api.get('/api/sim/host'))).power, { timeout: 20_000 }).toBe('on');
  await ok(api.post('/api/sim/host/clear'));

  await page.getByRole('button', { name: 'Open in VNC' }).click();
  const view = page.getByTestId('vnc-view');
  await expect(view).toHaveAttribute('data-state', 'connected', { timeout: 20_000 });
  const canvas = view.locator('canvas');
  await expect(canvas).toBeVisible();
  // The picture arrived: the canvas holds the console, not one flat colour.
  await expect.poll(async () => canvas.evaluate((c: HTMLCanvasElement) => {
    const ctx = c.getContext('2d');
    if (!ctx || !c.width) return 0;
    const pixels = ctx.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < pixels.length; i += 4 * 97) seen.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
    return seen.size;
  }), { timeout: 20_000 }).toBeGreaterThan(2);
  expect(await canvas.evaluate((c: HTMLCanvasElement) => [c.width, c.height])).toEqual([1920, 1080]);
  await page.screenshot({ path: test.info().outputPath('kvm-e2e-novnc.png') });

  await canvas.click();
  // noVNC sends physical keys (QEMU key events): a capital needs Shift held, as on a real keyboard.
  await page.keyboard.type('vnc ');
  await page.keyboard.press('Shift+KeyO');
  await page.keyboard.type('k 42');
  await expect.poll(async () => (await ok<{ text: string }>(api.get('/api/sim/host'))).text, { timeout: 10_000 })
    .toBe('vnc Ok 42');

  const status = await ok<{ clients: { transport: string; encoding: string }[] }>(api.get('/api/vnc'));
  expect(status.clients).toContainEqual(expect.objectContaining({ transport: 'websocket', encoding: 'tight' }));

  await page.getByRole('button', { name: 'Close VNC' }).click();
  await expect(view).toHaveCount(0);
});

test('settings show the VNC server', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.getByRole('tab', { name: 'VNC' }).click();
  await expect(page.getByTestId('vnc-port')).toHaveText(/^\d+$/);
  await expect(page.getByTestId('vnc-state')).toHaveText(/Running|not listening/);
  const listener = page.getByRole('switch', { name: 'VNC server' }); // an admin switches it at run time
  await expect(listener).toBeChecked();
  await listener.click();
  await expect(page.getByTestId('vnc-state')).toHaveText('Off');
  await listener.click();
  await expect(page.getByTestId('vnc-state')).toHaveText(/Running|not listening/);
  await expect(page.getByText(/DES with at most 8 characters/)).toBeVisible();
  await page.getByLabel('New VNC password').fill('abc12345');
  await page.getByRole('button', { name: 'Set', exact: true }).click();
  await expect(page.getByTestId('vnc-password-state')).toHaveText('On');
});
