import { afterEach, describe, expect, it, vi } from 'vitest';
import { ForbiddenError, HttpError, UnauthorizedError, onUnauthorized } from './api';
import {
  deleteRecording, downloadUrl, elapsed, filenameFor, listRecordings, recordingStatus, savedFormat, size, startOptions,
  startRecording, stopRecording, stoppedByItself, type RecordingStatus,
} from './recording';

const STATUS: RecordingStatus = { active: true, file: 'kvm.mp4', duration: 2.5, frames: 30, bytes: 12345, stopped: null };

function stubFetch(res: () => Response) {
  const f = vi.fn(async (_u: RequestInfo | URL, _i?: RequestInit) => res());
  vi.stubGlobal('fetch', f);
  return f;
}
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status });

afterEach(() => {
  vi.unstubAllGlobals();
  onUnauthorized(null);
});

describe('/recording', () => {
  it('starts with a strftime name whose extension picks the container', async () => {
    const f = stubFetch(() => json(STATUS));
    expect(await startRecording('mp4')).toEqual(STATUS);
    const [url, init] = f.mock.calls[0];
    expect(url).toBe('/recording');
    expect(init?.method).toBe('POST');
    expect(JSON.parse(init?.body as string)).toEqual({ filename: 'kvm-%Y%m%d-%H%M%S.mp4', framerate: 12, keyframe: 24 });
    expect(filenameFor('avi')).toMatch(/\.avi$/);
    expect(startOptions('avi')).toEqual({ filename: 'kvm-%Y%m%d-%H%M%S.avi', framerate: 12 }); // every MJPEG frame is a key frame
  });

  it('reads the status with GET and stops with DELETE, without a body', async () => {
    const f = stubFetch(() => json({ ...STATUS, active: false, stopped: 'stopped' }));
    await recordingStatus();
    await stopRecording();
    expect(f.mock.calls.map(([, i]) => [i?.method, i?.body])).toEqual([['GET', undefined], ['DELETE', undefined]]);
  });

  it("carries the server's own words on a refusal", async () => {
    stubFetch(() => json({ error: 'a recording is already running; DELETE /recording stops it' }, 409));
    const err = await startRecording('mp4').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(409);
    expect((err as Error).message).toBe('a recording is already running; DELETE /recording stops it');
  });

  it('falls back to the status code when the body says nothing', async () => {
    stubFetch(() => new Response('<html>bad gateway</html>', { status: 502 }));
    await expect(startRecording('avi')).rejects.toThrow('HTTP 502');
  });

  it('a 401 ends the session (the page goes to the login), a 403 is a role refusal', async () => {
    const ended = vi.fn();
    onUnauthorized(ended);
    stubFetch(() => json('unauthorized', 401));
    await expect(recordingStatus()).rejects.toBeInstanceOf(UnauthorizedError);
    expect(ended).toHaveBeenCalledOnce();
    await expect(recordingStatus(true)).rejects.toBeInstanceOf(UnauthorizedError); // the background poll
    expect(ended).toHaveBeenCalledOnce();
    stubFetch(() => json({ error: 'forbidden' }, 403));
    await expect(startRecording('mp4')).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('a network failure is an HttpError, not an unhandled TypeError', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch'); }));
    await expect(recordingStatus()).rejects.toThrow('network error');
  });
});

describe('/api/recordings', () => {
  it('lists files and the recorder, tolerating a null list', async () => {
    stubFetch(() => json({ code: 0, msg: 'success', data: { files: null, recording: STATUS } }));
    expect(await listRecordings()).toEqual({ files: [], recording: STATUS });
  });

  it('deletes and downloads by name, escaped', async () => {
    const f = stubFetch(() => json({ code: 0, msg: 'success', data: null }));
    await deleteRecording('sub dir/a&b.mp4');
    expect(f.mock.calls[0][0]).toBe('/api/recordings?name=sub%20dir%2Fa%26b.mp4');
    expect(f.mock.calls[0][1]?.method).toBe('DELETE');
    expect(downloadUrl('x?.avi')).toBe('/api/recordings/download?name=x%3F.avi');
  });
});

describe('shown values', () => {
  it('elapsed time', () => {
    expect(elapsed(0)).toBe('0:00');
    expect(elapsed(7.9)).toBe('0:07');
    expect(elapsed(754)).toBe('12:34');
    expect(elapsed(3723)).toBe('1:02:03');
    expect(elapsed(-1)).toBe('0:00');
  });

  it('sizes in units of 1000', () => {
    expect(size(999)).toBe('999 B');
    expect(size(38954)).toBe('39.0 kB');
    expect(size(1_968_962)).toBe('2.0 MB');
    expect(size(250_000_000)).toBe('250 MB');
    expect(size(4.2e12)).toBe('4.2 TB');
  });

  it('the format remembered, MP4 unless AVI was chosen', () => {
    expect(savedFormat(null)).toBe('mp4');
    expect(savedFormat('avi')).toBe('avi');
    expect(savedFormat('flv')).toBe('mp4');
  });

  it('why a recording ended, only when it was not a Stop', () => {
    expect(stoppedByItself(STATUS)).toBeNull();
    expect(stoppedByItself({ ...STATUS, active: false, stopped: 'stopped' })).toBeNull();
    expect(stoppedByItself({ ...STATUS, active: false, stopped: 'disk full: a write found no space' }))
      .toBe('disk full: a write found no space');
  });
});
