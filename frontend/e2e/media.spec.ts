// Virtual media against the real backend on the sim board: upload (with progress and cancel),
// download by URL from a local HTTP server, mount as CD-ROM and as flash drive and see the sim
// host's USB view (the ISO's volume label), unmount, delete, the USB network switch, and what a
// viewer gets. The spec starts a board of its own (fresh root, sim host powered on), so the
// shared backend's first-login and power-off expectations in real.spec.ts stay untouched.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { request as apiRequest, type APIRequestContext, type Page } from '@playwright/test';
import { enc } from './board';
import { test as base, expect } from './fixtures';
import { startBackend, type Backend } from './global-setup';
import { makeIso } from './iso';

const ADMIN_PASSWORD = 'media-Secret-123';
const VIEWER = 'media-viewer';
const VIEWER_PASSWORD = 'viewer-Secret-1';
const LABEL = 'KVM_E2E_MEDIA';
const ISO_NAME = 'kvm-e2e.iso';

let api: APIRequestContext; // the admin's session on this spec's board, for checks behind the page's back

/** This spec's own board: a fresh backend, the admin password set, a viewer, the sim host on. */
async function prepareBoard(backend: Backend): Promise<APIRequestContext> {
  const ctx = await apiRequest.newContext({ baseURL: backend.url });
  const ok = async (r: Promise<import('@playwright/test').APIResponse>) => {
    const body = await (await r).json();
    if (body.code !== 0) throw new Error(`board set-up: ${body.msg}`);
    return body.data;
  };
  await ok(ctx.post('/api/auth/login', { data: { username: 'admin', password: enc('admin') } }));
  await ok(ctx.post('/api/auth/password', { data: { currentPassword: enc('admin'), password: enc(ADMIN_PASSWORD) } }));
  await ok(ctx.post('/api/auth/login', { data: { username: 'admin', password: enc(ADMIN_PASSWORD) } }));
  await ok(ctx.post('/api/auth/users', { data: { username: VIEWER, password: enc(VIEWER_PASSWORD), role: 'viewer' } }));
  await ok(ctx.post('/api/vm/gpio', { data: { type: 'power', duration: 800 } }));
  const deadline = Date.now() + 20_000;
  while ((await ok(ctx.get('/api/sim/host'))).power !== 'on') {
    if (Date.now() > deadline) throw new Error('board set-up: the sim host did not power on');
    await new Promise((r) => setTimeout(r, 200));
  }
  return ctx;
}

// A worker fixture: set up before anything (the page's context options need baseURL), torn
// down with this file's worker.
const test = base.extend<object, { board: Backend }>({
  board: [
    async ({}, use) => { // eslint-disable-line no-empty-pattern
      const backend = await startBackend();
      try {
        api = await prepareBoard(backend);
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

type Usb = { bound: boolean; disk: string; medium: string; label: string | null; network: string } | null;

async function data<T>(r: Promise<import('@playwright/test').APIResponse>): Promise<T> {
  const body = await (await r).json();
  expect(body.code, body.msg).toBe(0);
  return body.data as T;
}

const simUsb = async () => (await data<{ usb: Usb }>(api.get('/api/sim/host'))).usb;
const images = async () => (await data<{ files: string[] | null }>(api.get('/api/storage/image'))).files ?? [];

/** The test image in the library (uploaded behind the page's back if an earlier test did not). */
async function ensureIso() {
  if ((await images()).includes(`/data/${ISO_NAME}`)) return;
  await data(api.post('/api/download/file', {
    multipart: { file: { name: ISO_NAME, mimeType: 'application/x-iso9660-image', buffer: makeIso(LABEL) } },
  }));
}

async function login(page: Page, user = 'admin', password = ADMIN_PASSWORD) {
  await page.goto('/');
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('user')).toContainText(user);
}

async function openImages(page: Page) {
  await page.getByRole('region', { name: 'Virtual media' }).getByRole('button', { name: /^Images/ }).click();
  const dialog = page.getByRole('dialog', { name: 'Images' });
  await expect(dialog).toBeVisible();
  return dialog;
}

/** Upload through the dialog's form (the file is generated, never read from disk). */
async function upload(dialog: import('@playwright/test').Locator, name: string, buffer: Buffer, sha256 = '') {
  await dialog.getByRole('button', { name: 'From this computer' }).click();
  await dialog.getByLabel('ISO image').setInputFiles({ name, mimeType: 'application/x-iso9660-image', buffer });
  if (sha256) await dialog.getByLabel('SHA-256 (optional)').fill(sha256);
  await dialog.getByRole('button', { name: 'Upload', exact: true }).click();
}

test('upload an ISO, mount it as CD-ROM: the host sees its label; unmount; delete', async ({ page }, info) => {
  await login(page);
  const panel = page.getByRole('region', { name: 'Virtual media' });
  const mounted = page.getByTestId('media-mounted');
  await expect(mounted).toHaveAttribute('data-state', 'none');
  await expect(panel.getByRole('button', { name: 'Images (0)' })).toBeVisible();

  const dialog = await openImages(page);
  await expect(dialog.getByTestId('no-images')).toBeVisible();
  await upload(dialog, ISO_NAME, makeIso(LABEL));
  await expect(dialog.getByTestId('transfer-outcome')).toHaveText(`Uploaded ${ISO_NAME}.`);
  const row = dialog.getByTestId('image-row').filter({ hasText: ISO_NAME });
  await expect(row).toHaveAttribute('data-file', `/data/${ISO_NAME}`);
  expect(await images()).toEqual([`/data/${ISO_NAME}`]);

  // mount as CD-ROM: the page, the API and the sim host's USB port agree
  await row.getByRole('button', { name: `Mount ${ISO_NAME} as CD-ROM` }).click();
  await expect(row.getByTestId('mounted-tag')).toHaveText('Mounted · CD-ROM');
  await expect(mounted).toHaveAttribute('data-state', 'mounted');
  await expect(mounted).toContainText(ISO_NAME);
  await expect(mounted).toContainText('CD-ROM');
  expect(await data(api.get('/api/storage/image/mounted'))).toEqual({ file: `/data/${ISO_NAME}` });
  expect(await data(api.get('/api/storage/cdrom'))).toEqual({ cdrom: 1 });
  await expect.poll(simUsb, { timeout: 10_000 }).toMatchObject({ bound: true, disk: 'cdrom', label: LABEL });
  await page.screenshot({ path: info.outputPath('media-mounted-dialog.png') });

  // the host's console (the MJPEG stream) lists the drive with its label: look at this shot
  await dialog.getByRole('button', { name: 'Close' }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByTestId('screen')).toHaveAttribute('data-video', 'playing');
  await page.waitForTimeout(1500); // the sim host re-reads its USB port once a second
  await page.screenshot({ path: info.outputPath('media-host-sees-label.png') });

  // deleting the mounted image: confirmed first, then refused by the server with its reason
  const again = await openImages(page);
  await again.getByRole('button', { name: `Delete ${ISO_NAME}` }).click();
  const confirm = page.getByRole('alertdialog', { name: `Delete ${ISO_NAME}?` });
  await confirm.getByRole('button', { name: 'Delete' }).click();
  await expect(again.getByRole('alert')).toHaveText(/image is mounted/);
  expect(await images()).toEqual([`/data/${ISO_NAME}`]);

  // unmount from the card; the host's drive is empty again
  await again.getByRole('button', { name: 'Close' }).click();
  await panel.getByRole('button', { name: 'Unmount' }).click();
  await expect(mounted).toHaveAttribute('data-state', 'none');
  await expect.poll(simUsb, { timeout: 10_000 }).toMatchObject({ disk: 'flash', medium: '', label: null });

  // cancelling the confirmation keeps the image; confirming deletes it
  const last = await openImages(page);
  await last.getByRole('button', { name: `Delete ${ISO_NAME}` }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Cancel' }).click();
  await expect(last.getByTestId('image-row')).toHaveCount(1);
  await last.getByRole('button', { name: `Delete ${ISO_NAME}` }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
  await expect(last.getByTestId('no-images')).toBeVisible();
  expect(await images()).toEqual([]);
  await page.screenshot({ path: info.outputPath('media-deleted.png') });
});

test('a file that is not an ISO shows the server\'s error and is not kept', async ({ page }, info) => {
  await login(page);
  const dialog = await openImages(page);
  // a name the server would refuse is caught before anything is sent
  await dialog.getByLabel('ISO image').setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: Buffer.from('png') });
  await dialog.getByRole('button', { name: 'Upload', exact: true }).click();
  await expect(dialog.getByRole('alert')).toHaveText('Only .iso images can be uploaded.');
  // an .iso name with other content: the server checks the ISO 9660 magic
  await upload(dialog, 'notes.iso', Buffer.alloc(40_000, 'not an ISO image\n'));
  await expect(dialog.getByRole('alert')).toHaveText('Upload of notes.iso failed: file is not a valid ISO image');
  // a checksum that does not match: the server discards the upload
  await upload(dialog, 'sum.iso', makeIso('SUM'), 'ab'.repeat(32));
  await expect(dialog.getByRole('alert')).toHaveText('Upload of sum.iso failed: checksum mismatch');
  await expect(dialog.getByTestId('no-images')).toBeVisible();
  expect(await images()).toEqual([]);
  await page.screenshot({ path: info.outputPath('media-not-an-iso.png') });
});

test('upload progress is shown and a cancelled upload leaves nothing behind', async ({ page }, info) => {
  await login(page);
  const dialog = await openImages(page);
  // throttle the page's uploads so the progress can be watched (Chromium's network emulation)
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 256 * 1024,
  });
  await upload(dialog, 'big.iso', makeIso('BIG', { minBytes: 4 << 20 }));
  const transfer = dialog.getByTestId('transfer');
  await expect(transfer).toHaveAttribute('data-kind', 'upload');
  await expect(dialog.getByRole('progressbar', { name: 'Uploading big.iso' })).toBeVisible();
  await expect.poll(async () => Number(await transfer.getAttribute('data-percent')), { timeout: 15_000 }).toBeGreaterThan(5);
  await expect(transfer).toContainText(/of 4\.00 MiB \(\d+%\)/);
  await page.screenshot({ path: info.outputPath('media-upload-progress.png') });
  // the server reports the same transfer to everyone
  expect(await data(api.get('/api/download/image/status'))).toMatchObject({ status: 'in_progress', file: 'big.iso' });

  await dialog.getByRole('button', { name: 'Cancel upload' }).click();
  await expect(dialog.getByTestId('transfer-outcome')).toHaveText('Upload cancelled.');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await expect.poll(async () => (await data<{ status: string }>(api.get('/api/download/image/status'))).status).toBe('idle');
  expect(await images()).toEqual([]);
  // the transfer lock is free again: the next upload goes through
  await upload(dialog, ISO_NAME, makeIso(LABEL));
  await expect(dialog.getByTestId('transfer-outcome')).toHaveText(`Uploaded ${ISO_NAME}.`);
  expect(await images()).toEqual([`/data/${ISO_NAME}`]);
});

/** A local web server for downloads: `/slow/<name>` trickles, `/stall/<name>` stops half-way. */
async function imageServer(body: Buffer): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = req.url ?? '';
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
    const chunk = 64 * 1024;
    let at = 0;
    const send = () => {
      if (res.destroyed) return;
      if (path.startsWith('/stall/') && at >= body.length / 2) return; // hang, the client must cancel
      if (at >= body.length) return void res.end();
      res.write(body.subarray(at, at + chunk));
      at += chunk;
      setTimeout(send, path.startsWith('/fast/') ? 0 : 100);
    };
    send();
  });
  const host = lanAddress();
  await new Promise<void>((r) => server.listen(0, host, r));
  return { url: `http://${host}:${(server.address() as AddressInfo).port}`, server };
}

/** The machine's LAN address: downloads refuse loopback (and link-local), as a mirror on the LAN is
 * what they are for (the sim board counts only loopback as its own address). */
function lanAddress(): string {
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.family === 'IPv4' && !entry.internal && !entry.address.startsWith('169.254.')) return entry.address;
    }
  }
  throw new Error('no LAN address on this machine: the download test needs one (downloads refuse loopback)');
}

test('download by URL: progress, cancel, a bad checksum, success; flash after CD-ROM', async ({ page }, info) => {
  const body = makeIso('DOWNLOADED', { minBytes: 2 << 20 });
  const { url, server } = await imageServer(body);
  try {
    await ensureIso();
    await login(page);
    const dialog = await openImages(page);
    await dialog.getByRole('button', { name: 'From a URL' }).click();
    const address = dialog.getByLabel('Image URL');

    // checked in the page first
    await address.fill(`${url}/get?id=1`);
    await dialog.getByRole('button', { name: 'Download', exact: true }).click();
    await expect(dialog.getByRole('alert')).toHaveText('The address must end in an .iso or .img file name.');

    // a stalled download is cancelled
    await address.fill(`${url}/stall/stalled.iso`);
    await expect(dialog.getByText('Saved as /data/stalled.iso')).toBeVisible();
    await dialog.getByRole('button', { name: 'Download', exact: true }).click();
    const transfer = dialog.getByTestId('transfer');
    await expect(transfer).toHaveAttribute('data-kind', 'download');
    await expect.poll(async () => Number(await transfer.getAttribute('data-percent')), { timeout: 15_000 }).toBeGreaterThan(10);
    await page.screenshot({ path: info.outputPath('media-download-progress.png') });
    await dialog.getByRole('button', { name: 'Cancel download' }).click();
    await expect(dialog.getByTestId('transfer-outcome')).toHaveText('Download cancelled.');

    // another client starts a download while this page shows the form: the upload is refused
    // before it starts, and the page shows (and can cancel) the other transfer
    await data(api.post('/api/download/image', { data: { file: `${url}/stall/other.iso` } }));
    await upload(dialog, 'late.iso', makeIso('LATE'));
    await expect(transfer).toContainText('Downloading other.iso');
    await expect(dialog.getByTestId('transfer-outcome')).toHaveText('Another transfer is in progress. Try again when it has finished.');
    expect(await images()).not.toContain('/data/late.iso');
    await dialog.getByRole('button', { name: 'Cancel download' }).click();
    await expect(dialog.getByTestId('transfer-outcome')).toHaveText('Download cancelled.');

    // a checksum that does not match: nothing is kept
    await dialog.getByRole('button', { name: 'From a URL' }).click();
    await address.fill(`${url}/fast/bad-sum.iso`);
    await dialog.getByLabel('SHA-256 (optional)').fill('0'.repeat(64));
    await dialog.getByRole('button', { name: 'Download', exact: true }).click();
    await expect(dialog.getByTestId('transfer-outcome')).toContainText('checksum of bad-sum.iso did not match', { timeout: 20_000 });

    // the real thing, with the right checksum
    const { createHash } = await import('node:crypto');
    await dialog.getByRole('button', { name: 'From a URL' }).click();
    await address.fill(`${url}/slow/downloaded.iso`);
    await dialog.getByLabel('SHA-256 (optional)').fill(createHash('sha256').update(body).digest('hex'));
    await dialog.getByRole('button', { name: 'Download', exact: true }).click();
    await expect(dialog.getByTestId('transfer-outcome')).toHaveText('Downloaded downloaded.iso.', { timeout: 30_000 });
    expect(await images()).toContain('/data/downloaded.iso');
    expect(await images()).not.toContain('/data/stalled.iso');
    expect(await images()).not.toContain('/data/bad-sum.iso');

    // CD-ROM first, then another image as flash drive: the host must see a flash drive
    await dialog.getByRole('button', { name: `Mount ${ISO_NAME} as CD-ROM` }).click();
    await expect.poll(simUsb, { timeout: 10_000 }).toMatchObject({ disk: 'cdrom', label: LABEL });
    await dialog.getByRole('button', { name: 'Mount downloaded.iso as flash drive' }).click();
    const row = dialog.getByTestId('image-row').filter({ hasText: 'downloaded.iso' });
    await expect(row.getByTestId('mounted-tag')).toHaveText('Mounted · Flash drive');
    await expect.poll(simUsb, { timeout: 10_000 }).toMatchObject({ disk: 'flash', label: 'DOWNLOADED' });
    await page.screenshot({ path: info.outputPath('media-flash.png') });
    await row.getByRole('button', { name: 'Unmount downloaded.iso' }).click();
    await expect(page.getByTestId('media-mounted')).toHaveAttribute('data-state', 'none');
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('USB network and USB disk switches rebuild the gadget the host sees', async ({ page }, info) => {
  await ensureIso();
  await login(page);
  const network = page.getByRole('switch', { name: 'USB network' });
  const disk = page.getByRole('switch', { name: 'USB disk' });
  await expect(network).toHaveAttribute('aria-checked', 'false');
  await expect(disk).toHaveAttribute('aria-checked', 'true');

  await network.click();
  await expect(network).toHaveAttribute('aria-checked', 'true');
  expect(await data(api.get('/api/vm/device/virtual'))).toMatchObject({ network: true, disk: true });
  await expect.poll(async () => (await simUsb())?.network, { timeout: 10_000 }).toBe('rndis');
  await page.waitForTimeout(1500);
  await page.screenshot({ path: info.outputPath('media-usb-network.png') });

  // the disk off: the card says so and the library cannot mount
  await disk.click();
  await expect(disk).toHaveAttribute('aria-checked', 'false');
  await expect(page.getByTestId('media-mounted')).toHaveAttribute('data-state', 'off');
  await expect.poll(async () => (await simUsb())?.disk, { timeout: 10_000 }).toBe('');
  const dialog = await openImages(page);
  await expect(dialog.getByText('The USB disk is off')).toBeVisible();
  await expect(dialog.getByRole('button', { name: `Mount ${ISO_NAME} as CD-ROM` })).toBeDisabled();
  await dialog.getByRole('button', { name: 'Close' }).click();

  await disk.click();
  await expect(disk).toHaveAttribute('aria-checked', 'true');
  await network.click();
  await expect(network).toHaveAttribute('aria-checked', 'false');
  expect(await data(api.get('/api/vm/device/virtual'))).toMatchObject({ network: false, disk: true });
  await expect.poll(async () => (await simUsb())?.network, { timeout: 10_000 }).toBe('');
});

test('on a phone-sized screen the image dialog fills the screen and stays usable', async ({ page }, info) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await ensureIso();
  await login(page);
  const dialog = await openImages(page);
  const box = (await dialog.boundingBox())!;
  expect(box.width).toBeLessThanOrEqual(390);
  const mount = dialog.getByRole('button', { name: `Mount ${ISO_NAME} as CD-ROM` });
  await expect(mount).toBeInViewport();
  await mount.click();
  await expect(dialog.getByTestId('mounted-tag')).toBeVisible();
  await page.screenshot({ path: info.outputPath('media-phone-dialog.png') });
  await dialog.getByRole('button', { name: 'Close' }).click();
  // the card sits under the screen and the power panel; its controls fit the width
  const panel = page.getByRole('region', { name: 'Virtual media' });
  await expect(page.getByTestId('media-mounted')).toHaveAttribute('data-state', 'mounted');
  await panel.scrollIntoViewIfNeeded();
  const card = (await panel.boundingBox())!;
  expect(card.x + card.width).toBeLessThanOrEqual(390);
  await expect(panel.getByRole('button', { name: 'Unmount' })).toBeInViewport();
  await page.screenshot({ path: info.outputPath('media-phone-card.png') });
  await panel.getByRole('button', { name: 'Unmount' }).click();
  await expect(page.getByTestId('media-mounted')).toHaveAttribute('data-state', 'none');
});

test('a viewer sees the media card but no controls, and the server agrees', async ({ page }, info) => {
  await login(page, VIEWER, VIEWER_PASSWORD);
  const panel = page.getByRole('region', { name: 'Virtual media' });
  await expect(panel).toBeVisible();
  await expect(panel.getByTestId('media-readonly')).toHaveText(/managed by an administrator/);
  await expect(panel.getByRole('button')).toHaveCount(0);
  await expect(page.getByRole('switch')).toHaveCount(0);
  // the storage routes are admin-only on the server (NanoKVM's roles)
  const r = await page.request.get('/api/storage/image/mounted');
  expect(r.status()).toBe(403);
  await expect(page.getByTestId('media-mounted')).toContainText('Not shown to your account');
  await expect(page.getByTestId('screen')).toHaveAttribute('data-video', 'playing');
  await page.screenshot({ path: info.outputPath('media-viewer.png') });
});
