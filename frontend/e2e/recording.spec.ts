// Recording from the page against the real backend: the toolbar's Record button (admins only), its
// time and size following the server while it records, a refusal and a quota stop in the server's
// words, Stop; then Settings › Recordings: the files listed, one downloaded (a real MP4, checked with
// ffprobe), both deleted.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Page } from '@playwright/test';
import { enc, firstLogin, login, setUpBoard } from './board';
import { test as base, expect } from './fixtures';
import { startBackend, type Backend } from './global-setup';

const ADMIN = { name: 'admin', password: 'rec-Admin-123' };
const VIEWER = { name: 'rec-viewer', password: 'rec-Viewer-123' };

// This spec's own board (fresh root): the recordings directory holds only what this spec makes.
const STEPS = [
  ...firstLogin(ADMIN.password),
  ['/api/auth/users', { username: VIEWER.name, password: enc(VIEWER.password), role: 'viewer' }],
] as const;
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

const progress = async (page: Page) => {
  const shown = page.getByTestId('rec-progress');
  return { seconds: Number(await shown.getAttribute('data-seconds')), bytes: Number(await shown.getAttribute('data-bytes')) };
};

/** ffprobe's view of a file's video stream (Debian's ffmpeg: `task test` installs it as root). */
function probe(path: string): { codec_name: string; nb_read_frames: string } | null {
  try {
    execFileSync('ffprobe', ['-version'], { stdio: 'ignore' });
  } catch {
    expect(process.env.CI, 'ffprobe is missing (apt-get install ffmpeg)').not.toBe('true');
    return null;
  }
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries',
    'stream=codec_name,nb_read_frames', '-of', 'json', path], { timeout: 60_000 });
  return JSON.parse(out.toString()).streams[0];
}

test('a viewer has no record button and no Recordings section', async ({ page }) => {
  await login(page, VIEWER);
  await expect(page.getByTestId('ws-state')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Stats', exact: true })).toBeVisible(); // the toolbar is there
  await expect(page.getByRole('group', { name: 'Recording' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Record', exact: true })).toHaveCount(0);
  await page.getByRole('button', { name: 'Settings' }).click();
  await expect(page.getByRole('tab', { name: 'Security' })).toBeVisible();
  await expect(page.getByRole('tab', { name: 'Recordings' })).toHaveCount(0);
});

test('record from the toolbar, then download and delete it in Settings › Recordings', async ({ page }) => {
  await login(page, ADMIN);
  const bar = page.getByRole('group', { name: 'Recording' });
  await expect(bar.getByLabel('Recording format')).toHaveValue('mp4'); // the default

  // A recording started by a script meanwhile, with a size quota (2 MB: about 5 s of the powered-off
  // screen's MJPEG): Record is refused in the server's words, the control then follows that recording,
  // and says why it ended when it reaches its quota.
  const script = await page.request.post('/recording', { data: { filename: 'from-script.avi', max_size: 2_000_000 } });
  expect(script.status()).toBe(200);
  await bar.getByRole('button', { name: 'Record', exact: true }).click();
  await expect(bar.getByRole('alert')).toHaveText(/Cannot record: a recording is already running/);
  await expect(bar.getByTestId('rec-progress')).toBeVisible();
  await expect(bar.getByRole('alert')).toHaveText(/Recording stopped: size quota reached \(2000000 bytes\)/, { timeout: 30_000 });
  await expect(bar.getByTestId('rec-progress')).toHaveCount(0);

  // Ours: the time and the size follow the server every second.
  await bar.getByRole('button', { name: 'Record', exact: true }).click();
  await expect(bar.getByTestId('rec-progress')).toBeVisible();
  const first = await progress(page);
  await expect.poll(async () => (await progress(page)).seconds, { timeout: 15_000 }).toBeGreaterThanOrEqual(first.seconds + 2);
  await expect.poll(async () => (await progress(page)).bytes, { timeout: 15_000 }).toBeGreaterThan(first.bytes);
  await expect(bar.getByTestId('rec-elapsed')).toHaveText(/^0:0[2-9]$/);
  await expect(bar.getByTestId('rec-size')).toHaveText(/^\d+(\.\d)? (B|kB|MB)$/);
  await page.screenshot({ path: test.info().outputPath('kvm-e2e-recording.png') });
  await bar.getByRole('button', { name: 'Stop recording' }).click();
  const saved = bar.getByRole('status');
  await expect(saved).toContainText(/Saved kvm-\d{8}-\d{6}\.mp4 \(0:0\d, /);
  const name = /Saved (\S+\.mp4)/.exec((await saved.textContent()) ?? '')![1];
  await expect(bar.getByRole('button', { name: 'Record', exact: true })).toBeEnabled();

  // Settings › Recordings: both files, newest first.
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.getByRole('tab', { name: 'Recordings' }).click();
  const panel = page.getByTestId('settings-panel');
  const rows = panel.getByRole('table', { name: 'Recordings' }).getByRole('row');
  await expect(rows).toHaveCount(3); // the header and two files
  await expect(rows.nth(1)).toContainText(name);
  await expect(rows.nth(2)).toContainText('from-script.avi');
  await expect(panel.getByTestId('recorder-state')).toContainText(`Last recording: ${name}`);
  await page.screenshot({ path: test.info().outputPath('kvm-e2e-settings-recordings.png'), fullPage: true });

  // Download: a fragmented MP4 (an ftyp box first) with H.264 frames in it.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    panel.getByRole('link', { name: `Download ${name}` }).click(),
  ]);
  expect(download.suggestedFilename()).toBe(name);
  const file = await download.path();
  const bytes = readFileSync(file);
  expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
  const stream = probe(file);
  if (stream) {
    expect(stream.codec_name).toBe('h264');
    expect(Number(stream.nb_read_frames)).toBeGreaterThanOrEqual(12); // 2 s or more at 12 fps
  }

  // Delete, asked first; Cancel keeps it.
  await panel.getByRole('button', { name: `Delete ${name}` }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Cancel' }).click();
  await expect(rows).toHaveCount(3);
  await panel.getByRole('button', { name: `Delete ${name}` }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
  await expect(panel.getByRole('status').filter({ hasText: `${name} deleted.` })).toBeVisible();
  await expect(rows).toHaveCount(2);
  await expect(panel.getByRole('table', { name: 'Recordings' })).not.toContainText(name);
  await expect(panel.getByTestId('recorder-state')).toHaveCount(0); // the recorder's last file is gone
  await panel.getByRole('button', { name: 'Delete from-script.avi' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
  await expect(panel.getByTestId('recordings-empty')).toHaveText('No recordings yet.');

  // Gone on the server too, and Refresh agrees.
  const listed = await (await page.request.get('/api/recordings')).json();
  expect(listed.data.files).toEqual([]);
  await panel.getByRole('button', { name: 'Refresh' }).click();
  await expect(panel.getByTestId('recordings-empty')).toBeVisible();
});
