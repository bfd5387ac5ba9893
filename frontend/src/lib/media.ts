// Virtual media: the image library, mounting, transfers and the USB toggles
// (spec §4.5, §4.6, §7.4, §7.5). Every route here is admin-only on the server.
import {
  ApiError, ForbiddenError, HttpError, UnauthorizedError, get, post, sessionEnded,
  type Envelope, type RequestOptions,
} from './api';

export const DATA_DIR = '/data';

/** Who may manage images and USB devices: the server allows these routes to admins only. */
export const canManageMedia = (role: string | undefined) => role === 'admin';
export type MountMode = 'cdrom' | 'flash';

export interface Mounted {
  /** Device path of the mounted image, "" for none. */
  file: string;
  /** How the host sees it; null when nothing is mounted or the flag could not be read. */
  mode: MountMode | null;
}

export interface VirtualDevices { network: boolean; disk: boolean }
export type VirtualDevice = keyof VirtualDevices;

export type TransferState = 'idle' | 'in_progress' | 'success' | 'failed' | 'checksum_failed';
export interface TransferStatus {
  status: TransferState;
  /** The URL of a download, the file name of an upload, "" once finished. */
  file: string;
  /** "42.17%", or "" when the size is unknown. */
  percentage: string;
}

// --- pure helpers ----------------------------------------------------------------------------

/** What the server accepts as an upload's or a download's file name. */
const FILE_NAME = /^[A-Za-z0-9._-]+$/;
const SHA256 = /^[0-9a-fA-F]{64}$/;
const IMAGE_SUFFIX = /\.(iso|img)$/i;

/** "/data/os/ubuntu.iso" -> "os/ubuntu.iso" (the part the user chose). */
export function imageLabel(path: string): string {
  const prefix = `${DATA_DIR}/`;
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}

/** The list the server returns (full paths, or null for none), sorted for display. */
export function parseImageList(data: { files?: unknown } | null | undefined): string[] {
  const files = Array.isArray(data?.files) ? data.files : [];
  return files
    .filter((f): f is string => typeof f === 'string' && f.length > 0)
    .sort((a, b) => imageLabel(a).localeCompare(imageLabel(b), undefined, { numeric: true, sensitivity: 'base' }));
}

/** "42.17%" -> 42.17; "" or anything else -> null (size unknown). */
export function parsePercentage(p: string | null | undefined): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(p ?? '');
  if (!m) return null;
  return Math.min(100, Math.max(0, Number(m[1])));
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 -> "1.5 KiB"; three significant digits at most, whole bytes below 1 KiB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '–';
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${Math.round(v)} B`;
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${UNITS[i]}`;
}

/** Whole-number percent for a progress bar, never NaN (0 when the total is unknown). */
export function percentOf(loaded: number, total: number): number {
  if (!(total > 0)) return 0;
  return Math.min(100, Math.max(0, Math.floor((loaded / total) * 100)));
}

/** "12.0 MiB of 700 MiB (1%)", or "12.0 MiB" when the total is unknown. */
export function formatProgress(loaded: number, total: number): string {
  if (!(total > 0)) return formatBytes(loaded);
  return `${formatBytes(loaded)} of ${formatBytes(total)} (${percentOf(loaded, total)}%)`;
}

/** "2.50 MiB/s" from bytes over milliseconds; "" until there is something to measure. */
export function formatRate(bytes: number, ms: number): string {
  if (!(ms > 0) || !(bytes > 0)) return '';
  return `${formatBytes((bytes * 1000) / ms)}/s`;
}

/** Why the server would refuse this upload's name (the same rules), or null. */
export function uploadNameError(name: string): string | null {
  if (!name) return 'Choose a file to upload.';
  if (!/\.iso$/i.test(name)) return 'Only .iso images can be uploaded.';
  if (!FILE_NAME.test(name)) return 'The file name may only contain letters, digits, ".", "_" and "-".';
  return null;
}

/** "" when the field is empty; the normalised checksum; or an error. */
export function parseSha256(input: string): { value: string } | { error: string } {
  const v = input.trim();
  if (v && !SHA256.test(v)) return { error: 'A SHA-256 checksum is 64 hexadecimal characters.' };
  return { value: v.toLowerCase() };
}

/** The name a download by URL is saved under (the last part of the URL's path), or an error. */
export function downloadTarget(url: string): { name: string } | { error: string } {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    return { error: 'Enter a full http:// or https:// address.' };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { error: 'Only http:// and https:// addresses can be downloaded.' };
  let name: string;
  try {
    name = decodeURIComponent(u.pathname.slice(u.pathname.lastIndexOf('/') + 1));
  } catch {
    return { error: 'The address does not end in a file name.' };
  }
  if (!name || name === '.' || name === '..' || !FILE_NAME.test(name)) {
    return { error: 'The address must end in a file name of letters, digits, ".", "_" and "-".' };
  }
  // The library lists only these; anything else would download out of sight.
  if (!IMAGE_SUFFIX.test(name)) return { error: 'The address must end in an .iso or .img file name.' };
  return { name };
}

export type Tone = 'ok' | 'error' | 'info';

/** What a finished download's status means to the user (the server clears `file` at the end). */
export function downloadOutcome(status: TransferState, name: string): { tone: Tone; text: string } | null {
  switch (status) {
    case 'success':
      return { tone: 'ok', text: `Downloaded ${name}.` };
    case 'failed':
      return { tone: 'error', text: `The download of ${name} failed (see the device log for the reason).` };
    case 'checksum_failed':
      return { tone: 'error', text: `The SHA-256 checksum of ${name} did not match: the file was discarded.` };
    case 'idle':
      return { tone: 'info', text: 'Download cancelled.' };
    default:
      return null;
  }
}

/**
 * An XMLHttpRequest answer as the fetch client would see it: data on code 0, else the
 * same errors (401 ends the session, 403 is a role refusal, a negative code its message).
 */
export function envelopeData<T>(status: number, text: string): T {
  if (status === 401) throw new UnauthorizedError();
  if (status === 403) throw new ForbiddenError();
  if (status === 0) throw new HttpError(0, 'network error');
  if (status < 200 || status >= 300) throw new HttpError(status, `HTTP ${status}`);
  let env: Envelope<T>;
  try {
    env = JSON.parse(text) as Envelope<T>;
  } catch {
    throw new HttpError(status, 'invalid response from server');
  }
  if (!env || typeof env !== 'object' || typeof env.code !== 'number') {
    throw new HttpError(status, 'invalid response from server');
  }
  if (env.code !== 0) throw new ApiError(env.code, env.msg);
  return env.data;
}

// --- image library and mount -----------------------------------------------------------------

export async function listImages(opts?: RequestOptions): Promise<string[]> {
  return parseImageList(await get<{ files: string[] | null }>('/api/storage/image', opts));
}

/** The mounted image and how it is presented (CD-ROM or flash). */
export async function getMounted(opts?: RequestOptions): Promise<Mounted> {
  const d = await get<{ file: string }>('/api/storage/image/mounted', opts);
  const file = typeof d?.file === 'string' ? d.file : '';
  if (!file) return { file: '', mode: null };
  const cdrom = await getCdrom(opts).catch(() => null);
  return { file, mode: cdrom === null ? null : cdrom ? 'cdrom' : 'flash' };
}

/** The LUN's cdrom flag (an integer on the wire). */
export async function getCdrom(opts?: RequestOptions): Promise<boolean> {
  const d = await get<{ cdrom: number }>('/api/storage/cdrom', opts);
  return d?.cdrom === 1;
}

// A mount rebinds the USB gadget; give it time on a slow board.
const MOUNT_TIMEOUT_MS = 60_000;

/**
 * Mount an image. The server leaves the LUN's cdrom/ro flags alone when mounting with
 * `cdrom:false` (spec §7.5, quirk 15), so a flash mount after a CD-ROM one would still look
 * like a CD-ROM to the host: unmount first in that case, which clears both flags.
 */
export async function mountImage(file: string, mode: MountMode): Promise<void> {
  if (mode === 'flash' && (await getCdrom().catch(() => false))) await unmountImage();
  await post<null>('/api/storage/image/mount', { file, cdrom: mode === 'cdrom' }, { timeoutMs: MOUNT_TIMEOUT_MS });
}

export async function unmountImage(): Promise<void> {
  await post<null>('/api/storage/image/mount', { file: '', cdrom: false }, { timeoutMs: MOUNT_TIMEOUT_MS });
}

export async function deleteImage(file: string): Promise<void> {
  await post<null>('/api/storage/image/delete', { file });
}

// --- USB devices (§7.4) ----------------------------------------------------------------------

export async function getVirtualDevices(opts?: RequestOptions): Promise<VirtualDevices> {
  const d = await get<{ network: boolean; disk: boolean }>('/api/vm/device/virtual', opts);
  return { network: !!d?.network, disk: !!d?.disk };
}

/** Flips one device (the gadget is rebuilt); answers whether it is now on. */
export async function toggleVirtualDevice(device: VirtualDevice): Promise<boolean> {
  const d = await post<{ on: boolean }>('/api/vm/device/virtual', { device }, { timeoutMs: MOUNT_TIMEOUT_MS });
  return !!d?.on;
}

// --- transfers (§4.6) ------------------------------------------------------------------------

export async function transfersEnabled(opts?: RequestOptions): Promise<boolean> {
  const d = await get<{ enabled: boolean }>('/api/download/image/enabled', opts);
  return !!d?.enabled;
}

export async function transferStatus(opts?: RequestOptions): Promise<TransferStatus> {
  const d = await get<TransferStatus>('/api/download/image/status', opts);
  return {
    status: d?.status ?? 'idle',
    file: typeof d?.file === 'string' ? d.file : '',
    percentage: typeof d?.percentage === 'string' ? d.percentage : '',
  };
}

export async function startDownload(url: string, sha256: string): Promise<void> {
  const body: Record<string, string> = { file: url.trim() };
  if (sha256) body.sha256sum = sha256;
  await post<TransferStatus>('/api/download/image', body);
}

/** Stops the running download (the server waits up to 10 s for it to end). */
export async function cancelDownload(): Promise<void> {
  await post<null>('/api/download/image/cancel', undefined, { timeoutMs: 20_000 });
}

/** An upload the user cancelled (not an error to show in red). */
export class UploadCancelled extends Error {
  constructor() {
    super('Upload cancelled.');
    this.name = 'UploadCancelled';
  }
}

export interface UploadProgress { loaded: number; total: number }
export interface UploadHandle {
  done: Promise<void>;
  abort: () => void;
  /** The user cancelled: whatever the server answers from now on settles as UploadCancelled. */
  cancelling: () => void;
}

interface UploadOptions {
  sha256?: string;
  onProgress?: (p: UploadProgress) => void;
  /** For tests: the request object to use. */
  xhr?: () => XMLHttpRequest;
}

/**
 * Streams a file to POST /api/download/file (multipart field `file`). XMLHttpRequest, not
 * fetch: only it reports upload progress. The server checks the ISO 9660 magic and the
 * optional checksum (header X-SHA256-Sum) and keeps nothing of a refused upload.
 */
export function uploadImage(file: Blob, name: string, opts: UploadOptions = {}): UploadHandle {
  const xhr = opts.xhr ? opts.xhr() : new XMLHttpRequest();
  let cancelled = false;
  const done = new Promise<void>((resolve, reject) => {
    xhr.open('POST', '/api/download/file');
    xhr.withCredentials = true;
    xhr.setRequestHeader('Accept', 'application/json');
    if (opts.sha256) xhr.setRequestHeader('X-SHA256-Sum', opts.sha256);
    xhr.upload.onprogress = (e: ProgressEvent) => {
      opts.onProgress?.({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size });
    };
    xhr.onload = () => {
      if (cancelled) {
        reject(new UploadCancelled());
        return;
      }
      try {
        envelopeData<unknown>(xhr.status, xhr.responseText);
        resolve();
      } catch (e) {
        if (e instanceof UnauthorizedError) sessionEnded();
        reject(e);
      }
    };
    xhr.onerror = () => reject(cancelled ? new UploadCancelled() : new HttpError(0, 'network error: the upload was interrupted'));
    xhr.onabort = () => reject(new UploadCancelled());
    const form = new FormData();
    form.append('file', file, name);
    xhr.send(form);
  });
  return {
    done,
    abort: () => {
      cancelled = true;
      xhr.abort();
    },
    cancelling: () => {
      cancelled = true;
    },
  };
}
