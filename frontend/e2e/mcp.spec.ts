// Settings › AI agents (MCP) against the real backend: the MCP server switched on from the page, its
// key shown once and then never again, a new key replacing the old one, the key's role and the
// control mode; each checked by calling /api/mcp itself with the key the page showed.
import type { APIRequestContext, Page } from '@playwright/test';
import { firstLogin, setUpBoard } from './board';
import { test as base, expect } from './fixtures';
import { startBackend, type Backend } from './global-setup';

const ADMIN = { name: 'admin', password: 'mcp-Admin-123' };

// This spec's own board (fresh root, its admin password set), so the shared backend's first-login
// expectations in real.spec.ts stay untouched.
const STEPS = firstLogin(ADMIN.password);
const test = base.extend<object, { board: Backend }>({
  board: [
    async ({}, use) => { // eslint-disable-line no-empty-pattern
      const backend = await startBackend();
      try {
        await setUpBoard(backend.url, STEPS);
        await use(backend);
      } finally {
        await backend.stop();
      }
    },
    { scope: 'worker', timeout: 120_000 },
  ],
  baseURL: async ({ board }, use) => use(board.url),
});
test.describe.configure({ mode: 'serial' });

/** One JSON-RPC call to /api/mcp as an agent sends it (no cookie: a fresh request context). */
async function mcp(playwright: { request: { newContext: (o: { baseURL?: string }) => Promise<APIRequestContext> } }, baseURL: string, key: string, method: string, params: object = {}) {
  const agent = await playwright.request.newContext({ baseURL });
  try {
    const res = await agent.post('/api/mcp', {
      headers: { Authorization: `Bearer ${key}`, Accept: 'application/json, text/event-stream' },
      data: { jsonrpc: '2.0', id: 1, method, params },
    });
    return { status: res.status(), text: await res.text() };
  } finally {
    await agent.dispose();
  }
}

async function openAiSection(page: Page) {
  await page.goto('/');
  if (await page.getByLabel('Username').isVisible()) {
    await page.getByLabel('Username').fill(ADMIN.name);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Log in' }).click();
  }
  await expect(page.getByTestId('user')).toContainText(ADMIN.name);
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.getByRole('tab', { name: 'AI agents (MCP)' }).click();
}

test('MCP card: switched on with a key shown once, a new key, the key role and the control mode', async ({ page, playwright, baseURL }) => {
  const base = baseURL!;
  await openAiSection(page);
  const panel = page.getByTestId('settings-panel');
  const said = (text: string) => expect(panel.getByRole('status').filter({ hasText: text }).first()).toBeVisible();
  await expect(panel.getByText(`${new URL(base).origin}/api/mcp`).first()).toBeVisible();

  // On: the answer carries a new key, shown once; the agent lists the tools with it.
  const server = panel.getByRole('switch', { name: 'MCP server' });
  await server.check();
  await said('MCP server on.');
  const first = (await panel.getByTestId('mcp-key').textContent()) ?? '';
  expect(first).toMatch(/^nag_mcp_[A-Za-z0-9_-]{43}$/);
  await expect(panel.getByLabel('Control mode')).toHaveValue('mcp');
  const listed = await mcp(playwright, base, first, 'tools/list');
  expect(listed.status).toBe(200);
  expect(listed.text).toContain('cube_type_text');
  await page.screenshot({ path: test.info().outputPath('kvm-e2e-settings-mcp-key.png'), fullPage: true });

  // Never shown again: a reload shows that a key is set, not the key.
  await page.reload();
  await page.getByRole('tab', { name: 'AI agents (MCP)' }).click();
  await expect(panel.getByTestId('mcp-key-state')).toHaveText('Set (hidden: regenerate to see a new one)');
  await expect(panel.getByTestId('mcp-key')).toHaveCount(0);
  expect(await page.content()).not.toContain(first);

  // A new key: shown once, and the old one is refused at once.
  await panel.getByRole('button', { name: 'Regenerate key' }).click();
  await said('New MCP key made; the old one no longer works.');
  const second = (await panel.getByTestId('mcp-key').textContent()) ?? '';
  expect(second).toMatch(/^nag_mcp_/);
  expect(second).not.toBe(first);
  expect((await mcp(playwright, base, first, 'tools/list')).status).toBe(401);
  expect((await mcp(playwright, base, second, 'tools/list')).status).toBe(200);
  await panel.getByRole('button', { name: 'Done' }).click(); // copied: the page forgets it
  await expect(panel.getByTestId('mcp-key')).toHaveCount(0);

  // The key's role: as a viewer the agent may look but not type.
  await panel.getByLabel("The key's role").selectOption('viewer');
  await said('The key acts as viewer.');
  const typed = await mcp(playwright, base, second, 'tools/call', { name: 'cube_type_text', arguments: { text: 'x' } });
  expect(typed.status).toBe(200);
  expect(typed.text).toContain('role (viewer) cannot type');
  await panel.getByLabel("The key's role").selectOption('user');
  await said('The key acts as user.');

  // Control mode off: the switch follows and the agent is turned away.
  await panel.getByLabel('Control mode').selectOption('off');
  await said('Control mode: off.');
  await expect(server).not.toBeChecked();
  const off = await mcp(playwright, base, second, 'tools/list');
  expect(off.status).toBe(403);
  expect(JSON.parse(off.text)).toEqual({ error: 'MCP service is disabled' });
  // and back on from the switch, with the key kept (nothing new to show)
  await server.check();
  await said('MCP server on.');
  await expect(panel.getByTestId('mcp-key-state')).toBeVisible();
  expect((await mcp(playwright, base, second, 'tools/list')).status).toBe(200);
  await server.uncheck();
  await said('MCP server off.');
});
