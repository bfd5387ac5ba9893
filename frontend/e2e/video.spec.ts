// H.264 in our page against the real backend (sim board): WebRTC (the default in Chromium) and
// WebCodecs direct. Each shows the sim PC's screen (its painted clock is read back from the decoded
// picture: the delay shown under Stats), typed text reaches the PC, and the console stays clean.
import type { Page } from '@playwright/test';
import { enc } from './board';
import { test, expect } from './fixtures';

test.describe.configure({ mode: 'serial' });

const OWNER_PASSWORDS = ['admin', 'e2e-Secret-123'];
const USER = { name: 'video-user', password: 'video-User-123' };

test.beforeAll(async ({ playwright, baseURL }) => {
  const r = await playwright.request.newContext({ baseURL });
  try {
    let logged = false;
    for (const password of OWNER_PASSWORDS) {
      const a = await (await r.post('/api/auth/login', { data: { username: 'admin', password: enc(password) } })).json();
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
    const made = await (await r.post('/api/auth/users', {
      data: { username: USER.name, password: enc(USER.password), role: 'user' },
    })).json();
    expect([0, -3]).toContain(made.code); // -3: already there (a rerun on a kept server)
  } finally {
    await r.dispose();
  }
});

// Not the video's: the login page's session probe (401 before logging in is how it knows), and the
// media card asking a user-role account for an admin route (403).
const KNOWN = [/status of 401 .*\/api\/auth\/account$/, /status of 403 .*\/api\/storage\/image\/mounted$/];

function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    const text = `${m.text()} ${m.location().url}`;
    if (m.type() === 'error' && !KNOWN.some((known) => known.test(text))) errors.push(text);
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

async function host(page: Page) {
  return (await (await page.request.get('/api/sim/host')).json()).data;
}

for (const [mode, label, element] of [
  ['', 'webrtc', 'screen-video'],
  ['direct', 'direct', 'screen-canvas'],
] as const) {
  test.describe(`${label} mode`, () => {
    test.use({ videoMode: mode });

    test(`shows the sim PC's screen over ${label} and types into it`, async ({ page }) => {
      const errors = watchConsole(page);
      await page.goto('/');
      await page.getByLabel('Username').fill(USER.name);
      await page.getByLabel('Password').fill(USER.password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await expect(page.getByTestId('user')).toContainText(USER.name);
      if ((await host(page)).power !== 'on') {
        await page.request.post('/api/vm/gpio', { data: { type: 'power', duration: 100 } });
        await expect.poll(async () => (await host(page)).power, { timeout: 20_000 }).toBe('on');
      }
      const screen = page.getByTestId('screen');
      await expect(screen).toHaveAttribute('data-mode', label);
      await expect(page.getByTestId(element)).toHaveCount(1);
      await expect(screen).toHaveAttribute('data-video', 'playing', { timeout: 20_000 });
      await expect(page.getByRole('button', { name: label === 'webrtc' ? 'H.264' : 'Direct' })).toHaveAttribute('aria-pressed', 'true');

      // the picture is the sim PC's: its painted clock reads back as a delay
      await page.getByRole('button', { name: 'Stats' }).click();
      const stats = page.getByTestId('screen-stats');
      await expect(stats).toContainText(/\d+ ms delay/, { timeout: 15_000 });
      await expect(stats).toContainText(/[1-9]\d* fps/);
      console.log(`${label}: ${await stats.textContent()}`);

      // typing reaches the PC
      await page.request.post('/api/sim/host/clear');
      await screen.click();
      await page.keyboard.type(`h264 ${label}`);
      await expect.poll(async () => (await host(page)).text, { timeout: 10_000 }).toContain(`h264 ${label}`);
      await page.screenshot({ path: test.info().outputPath(`kvm-e2e-${label}.png`) });
      expect(errors).toEqual([]);
    });
  });
}

// A board without the h264 extra (the zipapp): both H.264 routes close with 1011 and a reason, as
// tests/api/test_h264.py checks on the server; here the routes answer that way for the page.
test.describe('a board without H.264', () => {
  test.use({ videoMode: '' });

  test('the page falls back from WebRTC and direct to MJPEG and says why', async ({ page }) => {
    const errors = watchConsole(page);
    const refused: string[] = [];
    for (const [pattern, reason] of [
      [/\/api\/stream\/h264$/, 'H.264 over WebRTC needs PyAV and aiortc on the board'],
      [/\/api\/stream\/h264\/direct(\?.*)?$/, 'H.264 needs PyAV on the board'],
    ] as const) {
      await page.routeWebSocket(pattern, (ws) => {
        refused.push(ws.url());
        ws.close({ code: 1011, reason });
      });
    }
    await page.goto('/');
    await page.getByLabel('Username').fill(USER.name);
    await page.getByLabel('Password').fill(USER.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    const screen = page.getByTestId('screen');
    await expect(screen).toHaveAttribute('data-mode', 'mjpeg', { timeout: 20_000 });
    await expect(screen).toHaveAttribute('data-video', 'playing', { timeout: 20_000 });
    await expect(page.getByText(/needs PyAV .*: showing MJPEG/)).toBeVisible();
    expect(refused.some((url) => url.endsWith('/api/stream/h264'))).toBe(true);
    // Not stored: a board that gains H.264 gets it on the next visit.
    expect(await page.evaluate(() => localStorage.getItem('kvm-video-mode'))).toBeNull();
    expect(errors).toEqual([]);
  });
});
