import { test as base, expect } from '@playwright/test';

export const test = base.extend<{ videoMode: string }>({
  // The screen's video mode for pages of this test (localStorage kvm-video-mode, unless the page
  // set one itself): MJPEG for the tests written against the <img>; '' = the page's own default
  // (H.264 over WebRTC in Chromium), as e2e/video.spec.ts uses.
  videoMode: ['mjpeg', { option: true }],
  // baseURL comes from global-setup (the backend it started) or the environment.
  // eslint-disable-next-line no-empty-pattern
  baseURL: async ({}, use) => {
    const url = process.env.E2E_BASE_URL;
    if (!url) throw new Error('E2E_BASE_URL not set (global setup did not run?)');
    await use(url);
  },
  // Every page of every test runs under the server's Content-Security-Policy (Playwright keeps it):
  // anything the policy blocked (Chromium says so on the console) fails the test that caused it.
  page: async ({ page, videoMode }, use) => {
    if (videoMode) {
      await page.addInitScript((mode) => {
        if (!localStorage.getItem('kvm-video-mode')) localStorage.setItem('kvm-video-mode', mode);
      }, videoMode);
    }
    const blocked: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) blocked.push(message.text());
    });
    await use(page);
    expect(blocked, 'requests or code blocked by the Content-Security-Policy').toEqual([]);
  },
});

export { expect };
