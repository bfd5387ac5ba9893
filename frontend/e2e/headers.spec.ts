// The page's security headers as a browser applies them (issue 13, finding 6): the CSP blocks
// injected inline script, and another page cannot frame ours. The other specs run every page under
// the same policy and fail on anything it blocks (e2e/fixtures.ts).
import { test, expect } from '@playwright/test';

const base = () => {
  const url = process.env.E2E_BASE_URL;
  if (!url) throw new Error('E2E_BASE_URL not set (global setup did not run?)');
  return url;
};

test('the CSP is sent with the page and blocks injected inline script', async ({ page }) => {
  const response = await page.goto(`${base()}/`);
  const headers = response!.headers();
  expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(headers['x-frame-options']).toBe('DENY');
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['referrer-policy']).toBe('same-origin');
  await expect(page.locator('#root')).not.toBeEmpty(); // the app itself runs under the policy
  const outcome = await page.evaluate(async () => {
    const w = window as unknown as { injected?: number };
    const violations: string[] = [];
    document.addEventListener('securitypolicyviolation', (e) => violations.push(e.effectiveDirective));
    // What an HTML injection would try: an event-handler attribute and an inline <script>.
    const div = document.createElement('div');
    div.innerHTML = '<img src="data:," onerror="window.injected = 1">';
    document.body.append(div);
    const script = document.createElement('script');
    script.textContent = 'window.injected = 2';
    document.body.append(script);
    await new Promise((r) => setTimeout(r, 300));
    return { injected: w.injected ?? 0, violations };
  });
  expect(outcome.injected).toBe(0);
  expect(outcome.violations).toEqual(expect.arrayContaining(['script-src-attr', 'script-src-elem']));
});

test('another page cannot frame ours', async ({ page }) => {
  // A page of another origin (about:blank's content, then a frame of the KVM page).
  await page.setContent(`<iframe id="kvm" src="${base()}/" width="800" height="600"></iframe>`);
  const frame = page.frameLocator('#kvm');
  await page.waitForTimeout(1500); // long enough for the page to render if it were allowed
  await expect(frame.locator('#root')).toHaveCount(0);
  const loaded = page.frames().find((f) => f.url().startsWith(base()));
  if (loaded) {
    // Chromium keeps the frame's URL but shows its own error page instead of our document.
    expect(await loaded.locator('#root').count()).toBe(0);
  }
});
