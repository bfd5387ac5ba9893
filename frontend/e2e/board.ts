// What the spec files share about a board: the password encoding NanoKVM's page uses, signing in
// from the login page, and the API steps that prepare a spec's own board.
//
// The worker fixture that starts such a board is still written out in each spec (mcp, recording,
// media, vnc, controls); a shared factory for it would be safe (each spec file gets a worker and a
// board of its own even then), it is simply not done yet.
import { request as apiRequest, type Page } from '@playwright/test';
import AES from 'crypto-js/aes.js'; // .js: plain Node ESM resolution
import { expect } from './fixtures';

/** A password as NanoKVM's page sends it: AES with the page's fixed key, then URL-encoded. */
export const enc = (p: string) => encodeURIComponent(AES.encrypt(p, 'nanokvm-sipeed-2024').toString());

export interface Who {
  name: string;
  password: string;
}

/** Signs in from the login page and waits until the desktop names the user. */
export async function login(page: Page, who: Who): Promise<void> {
  await page.goto('/');
  await page.getByLabel('Username').fill(who.name);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('user')).toContainText(who.name);
}

/** POSTs each [path, body] to the board in order, in one session; any answer but code 0 throws. */
export async function setUpBoard(url: string, steps: ReadonlyArray<readonly [string, object]>): Promise<void> {
  const ctx = await apiRequest.newContext({ baseURL: url });
  try {
    for (const [path, data] of steps) {
      const body = await (await ctx.post(path, { data })).json();
      if (body.code !== 0) throw new Error(`board set-up: ${path}: ${body.msg}`);
    }
  } finally {
    await ctx.dispose();
  }
}

/** The first login's steps: admin/admin signs in, sets `password` and signs in with it. */
export const firstLogin = (password: string): Array<readonly [string, object]> => [
  ['/api/auth/login', { username: 'admin', password: enc('admin') }],
  ['/api/auth/password', { currentPassword: enc('admin'), password: enc(password) }],
  ['/api/auth/login', { username: 'admin', password: enc(password) }],
];
