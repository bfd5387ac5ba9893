import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, ForbiddenError, HttpError, UnauthorizedError, onUnauthorized } from './api';
import {
  UploadCancelled, canManageMedia, getMounted, mountImage, downloadOutcome, downloadTarget, envelopeData, formatBytes, formatProgress,
  formatRate, imageLabel, parseImageList, parsePercentage, parseSha256, percentOf, uploadImage, uploadNameError,
} from './media';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const caught = (p: Promise<unknown>): Promise<any> => p.then(() => { throw new Error('expected rejection'); }, (e) => e);

describe('formatting', () => {
  it('formats sizes in binary units with three significant digits', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.00 KiB');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(12.34 * 1024 * 1024)).toBe('12.3 MiB');
    expect(formatBytes(700 * 1024 * 1024)).toBe('700 MiB');
    expect(formatBytes(4.7 * 1024 ** 3)).toBe('4.70 GiB');
    expect(formatBytes(-1)).toBe('–');
    expect(formatBytes(Number.NaN)).toBe('–');
  });

  it('computes a whole percent that never leaves 0..100', () => {
    expect(percentOf(0, 100)).toBe(0);
    expect(percentOf(999, 1000)).toBe(99); // 100 only when really complete
    expect(percentOf(1000, 1000)).toBe(100);
    expect(percentOf(2000, 1000)).toBe(100);
    expect(percentOf(5, 0)).toBe(0);
    expect(percentOf(5, Number.NaN)).toBe(0);
  });

  it('describes progress with and without a known total', () => {
    expect(formatProgress(12 * 1024 * 1024, 700 * 1024 * 1024)).toBe('12.0 MiB of 700 MiB (1%)');
    expect(formatProgress(2048, 0)).toBe('2.00 KiB');
  });

  it('formats a transfer rate only once there is one', () => {
    expect(formatRate(5 * 1024 * 1024, 2000)).toBe('2.50 MiB/s');
    expect(formatRate(0, 1000)).toBe('');
    expect(formatRate(1000, 0)).toBe('');
  });

  it('parses the server percentage string', () => {
    expect(parsePercentage('42.17%')).toBe(42.17);
    expect(parsePercentage('100.00%')).toBe(100);
    expect(parsePercentage('0%')).toBe(0);
    expect(parsePercentage('')).toBeNull(); // size unknown
    expect(parsePercentage(undefined)).toBeNull();
    expect(parsePercentage('abc')).toBeNull();
    expect(parsePercentage('150%')).toBe(100);
  });
});

describe('image list', () => {
  it('keeps full paths, drops junk and sorts by the name under /data', () => {
    expect(parseImageList({ files: ['/data/b.iso', '/data/a/z.img', 42, '', '/data/A10.iso', '/data/a2.iso'] }))
      .toEqual(['/data/a/z.img', '/data/a2.iso', '/data/A10.iso', '/data/b.iso']);
    expect(parseImageList({ files: null })).toEqual([]); // the server's "no images"
    expect(parseImageList(null)).toEqual([]);
  });

  it('labels images by their path under /data', () => {
    expect(imageLabel('/data/ubuntu.iso')).toBe('ubuntu.iso');
    expect(imageLabel('/data/os/win.img')).toBe('os/win.img');
    expect(imageLabel('/elsewhere/x.iso')).toBe('/elsewhere/x.iso');
  });

  it('gives media controls to admins only, as the server does', () => {
    expect(canManageMedia('admin')).toBe(true);
    expect(canManageMedia('user')).toBe(false);
    expect(canManageMedia('viewer')).toBe(false);
    expect(canManageMedia(undefined)).toBe(false);
  });
});

describe('validation (the server\'s rules, checked before sending gigabytes)', () => {
  it('accepts only .iso uploads with safe names', () => {
    expect(uploadNameError('ubuntu-24.04_amd64.ISO')).toBeNull();
    expect(uploadNameError('')).toMatch(/choose/i);
    expect(uploadNameError('disk.img')).toMatch(/only \.iso/i);
    expect(uploadNameError('my image.iso')).toMatch(/letters, digits/);
    expect(uploadNameError('über.iso')).toMatch(/letters, digits/);
  });

  it('takes an empty or 64-hex SHA-256, normalised to lower case', () => {
    expect(parseSha256('')).toEqual({ value: '' });
    expect(parseSha256(`  ${'AB'.repeat(32)} `)).toEqual({ value: 'ab'.repeat(32) });
    expect(parseSha256('abc')).toHaveProperty('error');
    expect(parseSha256('g'.repeat(64))).toHaveProperty('error');
  });

  it('names a download after the last part of the URL path', () => {
    expect(downloadTarget('https://example.com/releases/ubuntu-24.04.iso?mirror=1')).toEqual({ name: 'ubuntu-24.04.iso' });
    expect(downloadTarget('http://10.0.0.2:8080/a%2Db.img')).toEqual({ name: 'a-b.img' });
    expect(downloadTarget('ftp://example.com/x.iso')).toHaveProperty('error');
    expect(downloadTarget('example.com/x.iso')).toHaveProperty('error');
    expect(downloadTarget('https://example.com/')).toHaveProperty('error');
    expect(downloadTarget('https://example.com/get?id=3')).toHaveProperty('error');
    expect(downloadTarget('https://example.com/a%20b.iso')).toHaveProperty('error');
    expect(downloadTarget('https://example.com/%E0%A4%A.iso')).toHaveProperty('error'); // bad escape
    expect(downloadTarget('https://example.com/archive.zip')).toEqual({ error: expect.stringMatching(/\.iso or \.img/) });
  });

  it('explains how a download ended', () => {
    expect(downloadOutcome('success', 'a.iso')).toEqual({ tone: 'ok', text: 'Downloaded a.iso.' });
    expect(downloadOutcome('checksum_failed', 'a.iso')?.tone).toBe('error');
    expect(downloadOutcome('failed', 'a.iso')?.text).toMatch(/failed/);
    expect(downloadOutcome('idle', 'a.iso')).toEqual({ tone: 'info', text: 'Download cancelled.' });
    expect(downloadOutcome('in_progress', 'a.iso')).toBeNull();
  });
});

describe('envelopeData (XMLHttpRequest answers)', () => {
  it('returns data on code 0 and maps failures like the fetch client', () => {
    expect(envelopeData(200, JSON.stringify({ code: 0, msg: 'success', data: { status: 'idle' } }))).toEqual({ status: 'idle' });
    const e = (() => {
      try {
        envelopeData(200, JSON.stringify({ code: -1, msg: 'file is not a valid ISO image', data: null }));
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).message).toBe('file is not a valid ISO image');
    expect(() => envelopeData(401, '"unauthorized"')).toThrow(UnauthorizedError);
    expect(() => envelopeData(403, '"forbidden"')).toThrow(ForbiddenError);
    expect(() => envelopeData(0, '')).toThrow(HttpError);
    expect(() => envelopeData(500, '')).toThrow(/HTTP 500/);
    expect(() => envelopeData(200, '<html>')).toThrow(/invalid response/);
    expect(() => envelopeData(200, '{"data":1}')).toThrow(/invalid response/);
  });
});

/** Just enough of XMLHttpRequest to drive uploadImage. */
class FakeXhr {
  method = '';
  url = '';
  headers: Record<string, string> = {};
  body: FormData | null = null;
  status = 0;
  responseText = '';
  withCredentials = false;
  upload: { onprogress: ((e: ProgressEvent) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(k: string, v: string) {
    this.headers[k] = v;
  }
  send(body: FormData) {
    this.body = body;
  }
  abort() {
    this.onabort?.();
  }
  progress(loaded: number, total: number, lengthComputable = true) {
    this.upload.onprogress?.({ loaded, total, lengthComputable } as ProgressEvent);
  }
  answer(status: number, body: unknown) {
    this.status = status;
    this.responseText = typeof body === 'string' ? body : JSON.stringify(body);
    this.onload?.();
  }
}

describe('uploadImage', () => {
  afterEach(() => onUnauthorized(null));

  const start = (opts: { sha256?: string } = {}) => {
    const xhr = new FakeXhr();
    const progress = vi.fn();
    const blob = new Blob([new Uint8Array(1000)]);
    const handle = uploadImage(blob, 'test.iso', {
      ...opts,
      onProgress: progress,
      xhr: () => xhr as unknown as XMLHttpRequest,
    });
    return { xhr, progress, handle };
  };

  it('posts the file as multipart field "file" and reports progress', async () => {
    const { xhr, progress, handle } = start({ sha256: 'ab'.repeat(32) });
    expect(xhr.method).toBe('POST');
    expect(xhr.url).toBe('/api/download/file');
    expect(xhr.headers['X-SHA256-Sum']).toBe('ab'.repeat(32));
    const part = xhr.body!.get('file') as File;
    expect(part.name).toBe('test.iso');
    expect(part.size).toBe(1000);
    xhr.progress(400, 1200);
    xhr.progress(700, 0, false); // no length: the file size stands in
    expect(progress.mock.calls).toEqual([[{ loaded: 400, total: 1200 }], [{ loaded: 700, total: 1000 }]]);
    xhr.answer(200, { code: 0, msg: 'success', data: { status: 'idle', file: '', percentage: '' } });
    await expect(handle.done).resolves.toBeUndefined();
  });

  it('sends no checksum header when none is given', () => {
    const { xhr } = start();
    expect(xhr.headers).not.toHaveProperty('X-SHA256-Sum');
  });

  it('rejects with the server message', async () => {
    const { xhr, handle } = start();
    xhr.answer(200, { code: -1, msg: 'file is not a valid ISO image', data: null });
    const e = await caught(handle.done);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.message).toBe('file is not a valid ISO image');
  });

  it('ends the session on 401', async () => {
    const ended = vi.fn();
    onUnauthorized(ended);
    const { xhr, handle } = start();
    xhr.answer(401, '"unauthorized"');
    expect(await caught(handle.done)).toBeInstanceOf(UnauthorizedError);
    expect(ended).toHaveBeenCalledOnce();
  });

  it('abort rejects with UploadCancelled, a network failure with HttpError', async () => {
    const a = start();
    a.handle.abort();
    expect(await caught(a.handle.done)).toBeInstanceOf(UploadCancelled);
    const b = start();
    b.xhr.onerror?.();
    const e = await caught(b.handle.done);
    expect(e).toBeInstanceOf(HttpError);
    expect(e.message).toMatch(/interrupted/);
  });
});

describe('mount requests', () => {
  afterEach(() => vi.unstubAllGlobals());

  /** A fake server: answers by "METHOD path", records every request. */
  function serve(answers: Record<string, unknown>) {
    const calls: string[] = [];
    vi.stubGlobal('fetch', vi.fn(async (url: string, init?: RequestInit) => {
      const key = `${init?.method ?? 'GET'} ${url}`;
      calls.push(init?.body ? `${key} ${init.body}` : key);
      if (!(key in answers)) return new Response('not found', { status: 404 });
      return new Response(JSON.stringify({ code: 0, msg: 'success', data: answers[key] }), { status: 200 });
    }));
    return calls;
  }

  it('ejects first when mounting as flash after a CD-ROM (the server keeps the cdrom flag)', async () => {
    const calls = serve({ 'GET /api/storage/cdrom': { cdrom: 1 }, 'POST /api/storage/image/mount': null });
    await mountImage('/data/a.iso', 'flash');
    expect(calls).toEqual([
      'GET /api/storage/cdrom',
      'POST /api/storage/image/mount {"file":"","cdrom":false}',
      'POST /api/storage/image/mount {"file":"/data/a.iso","cdrom":false}',
    ]);
  });

  it('mounts a flash drive directly when the LUN is not a CD-ROM, and a CD-ROM always directly', async () => {
    let calls = serve({ 'GET /api/storage/cdrom': { cdrom: 0 }, 'POST /api/storage/image/mount': null });
    await mountImage('/data/a.iso', 'flash');
    expect(calls).toEqual(['GET /api/storage/cdrom', 'POST /api/storage/image/mount {"file":"/data/a.iso","cdrom":false}']);
    calls = serve({ 'POST /api/storage/image/mount': null });
    await mountImage('/data/a.iso', 'cdrom');
    expect(calls).toEqual(['POST /api/storage/image/mount {"file":"/data/a.iso","cdrom":true}']);
  });

  it('reports the mounted image with its mode', async () => {
    serve({ 'GET /api/storage/image/mounted': { file: '/data/a.iso' }, 'GET /api/storage/cdrom': { cdrom: 1 } });
    await expect(getMounted()).resolves.toEqual({ file: '/data/a.iso', mode: 'cdrom' });
    const calls = serve({ 'GET /api/storage/image/mounted': { file: '' } });
    await expect(getMounted()).resolves.toEqual({ file: '', mode: null });
    expect(calls).toEqual(['GET /api/storage/image/mounted']); // no flag to read for an empty drive
    serve({ 'GET /api/storage/image/mounted': { file: '/data/a.img' } }); // cdrom unreadable
    await expect(getMounted()).resolves.toEqual({ file: '/data/a.img', mode: null });
  });
});
