import { test as base, expect } from '@playwright/test';

// baseURL comes from global-setup (the backend it started) or the environment.
export const test = base.extend({
  // eslint-disable-next-line no-empty-pattern
  baseURL: async ({}, use) => {
    const url = process.env.E2E_BASE_URL;
    if (!url) throw new Error('E2E_BASE_URL not set (global setup did not run?)');
    await use(url);
  },
});

export { expect };
