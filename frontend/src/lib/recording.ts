// Recordings (admin): vncrecordingserver's /recording (plain JSON, errors as {"error"} with a 4xx/5xx
// status) to start, follow and stop one, and our /api/recordings (NanoKVM's envelope) to list,
// download and delete the files. See app/api/kasm/recording.py.
import { ForbiddenError, HttpError, UnauthorizedError, get, request, sessionEnded } from './api';

export interface RecordingStatus {
  active: boolean;
  file: string | null; // relative to the recordings directory
  duration: number; // seconds recorded
  frames: number;
  bytes: number;
  stopped: string | null; // why the last recording ended, once it has
}

export interface RecordingFile {
  name: string;
  size: number;
  modified: number; // seconds since the epoch
  active: boolean; // being written now
}

/** The containers offered on the toolbar; the extension picks the container on the server. */
export type RecordingFormat = 'mp4' | 'avi';
export const FORMATS: ReadonlyArray<{ value: RecordingFormat; label: string; title: string }> = [
  { value: 'mp4', label: 'MP4', title: 'H.264 from the board\'s encoder: small files that play in any browser' },
  { value: 'avi', label: 'AVI', title: 'MJPEG: the captured pictures as they are (no encoding, light on the CPU), large files' },
];
export const FORMAT_KEY = 'kvm-recording-format';

export function savedFormat(stored: string | null): RecordingFormat {
  return stored === 'avi' ? 'avi' : 'mp4';
}

/** The strftime name the server expands (its clock); an existing name gets -1, -2... there. */
export function filenameFor(format: RecordingFormat): string {
  return `kvm-%Y%m%d-%H%M%S.${format}`;
}

/** One call to /recording. A refusal carries the server's own words ("a recording is already running...").
 * A 401 ends the page's session (as api.ts does) unless `quiet401`: the background status reads leave
 * that to the page's own requests. */
async function recording(method: 'GET' | 'POST' | 'DELETE', body?: object, quiet401 = false): Promise<RecordingStatus> {
  let res: Response;
  try {
    res = await fetch('/recording', {
      method,
      credentials: 'same-origin',
      headers: body ? { Accept: 'application/json', 'Content-Type': 'application/json' } : { Accept: 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30_000), // a start waits for the first picture (10 s at most)
    });
  } catch {
    throw new HttpError(0, 'network error');
  }
  if (res.status === 401) {
    if (!quiet401) sessionEnded();
    throw new UnauthorizedError();
  }
  if (res.status === 403) throw new ForbiddenError();
  let answer: unknown;
  try {
    answer = await res.json();
  } catch {
    throw new HttpError(res.status, `HTTP ${res.status}`);
  }
  if (!res.ok) {
    const error = (answer as { error?: unknown } | null)?.error;
    throw new HttpError(res.status, typeof error === 'string' && error ? error : `HTTP ${res.status}`);
  }
  return answer as RecordingStatus;
}

export const recordingStatus = (quiet401 = false) => recording('GET', undefined, quiet401);
/** The server's default frame rate, stated so the key frame interval below stays 2 s. */
export const FRAMERATE = 12;
/** What the page asks for: H.264 gets a key frame every 2 s (the server's default is 10 s), because
 * the MP4 grows a fragment per key frame: the size shown moves every 2 s, a player seeks to within
 * 2 s, and a power cut loses at most that. MJPEG frames are all key frames. */
export function startOptions(format: RecordingFormat): { filename: string; framerate: number; keyframe?: number } {
  const options = { filename: filenameFor(format), framerate: FRAMERATE };
  return format === 'mp4' ? { ...options, keyframe: 2 * FRAMERATE } : options;
}
export const startRecording = (format: RecordingFormat) => recording('POST', startOptions(format));
export const stopRecording = () => recording('DELETE');

export async function listRecordings(): Promise<{ files: RecordingFile[]; recording: RecordingStatus }> {
  const d = await get<{ files: RecordingFile[] | null; recording: RecordingStatus }>('/api/recordings');
  return { files: Array.isArray(d?.files) ? d.files : [], recording: d.recording };
}
export const deleteRecording = (name: string) =>
  request<null>('DELETE', `/api/recordings?name=${encodeURIComponent(name)}`);
export const downloadUrl = (name: string) => `/api/recordings/download?name=${encodeURIComponent(name)}`;

/** "0:07", "12:34", "1:02:03". */
export function elapsed(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Bytes in kB/MB/GB of 1000 (as disks are sold), one decimal under 100. */
export function size(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return `${v < 100 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** Why a recording ended, when it was not someone pressing Stop (disk full, quota, source lost). */
export function stoppedByItself(status: RecordingStatus): string | null {
  if (status.active || !status.stopped || status.stopped === 'stopped') return null;
  return status.stopped;
}
