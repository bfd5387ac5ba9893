// Typed wrappers for the endpoints this UI uses (spec §4.1, §4.2).
import { encryptPassword } from './encrypt';
import { get, post, ApiError, type RequestOptions } from './api';

export type Role = 'admin' | 'user' | 'viewer';
export interface Account { username: string; role: Role }
export interface Gpio { pwr: boolean; hdd: boolean }
export interface IpInfo { name: string; addr: string; version: string; type: string }
export interface VmInfo {
  ips: IpInfo[] | null;
  mdns: string;
  image: string;
  application: string;
  deviceKey: string;
}
export type PressType = 'power' | 'reset';

export const canControl = (role: Role | string | undefined) => role === 'admin' || role === 'user';

/** The server's -6: the password was right, the account also needs its two-factor code. */
export const CODE_REQUIRED = -6;

export async function login(username: string, password: string, totp?: string): Promise<void> {
  try {
    const body = { username, password: encryptPassword(password), ...(totp ? { totp } : {}) };
    await post<unknown>('/api/auth/login', body);
  } catch (e) {
    if (e instanceof ApiError) {
      if (e.code === CODE_REQUIRED) throw new ApiError(CODE_REQUIRED, 'Enter the code from your authenticator app.');
      if (e.code === -7) throw new ApiError(-7, 'That code is not valid (or was used already). Try the next one.');
      if (e.code === -2) throw new ApiError(-2, 'Invalid username or password.');
      if (e.code === -5) throw new ApiError(-5, 'Too many failed attempts. Please try again later.');
      if (e.code === -1) throw new ApiError(-1, 'Please enter a username and password.');
    }
    throw e;
  }
}

export const logout = () => post<null>('/api/auth/logout');

export const getAccount = (opts?: RequestOptions) => get<Account>('/api/auth/account', opts);

export async function isPasswordUpdated(opts?: RequestOptions): Promise<boolean> {
  const d = await get<{ isUpdated: boolean }>('/api/auth/password', opts);
  return !!d?.isUpdated;
}

export async function changePassword(current: string, next: string): Promise<void> {
  try {
    await post<null>('/api/auth/password', {
      currentPassword: encryptPassword(current),
      password: encryptPassword(next),
    });
  } catch (e) {
    if (e instanceof ApiError && e.code === -3) {
      throw new ApiError(-3, /required/i.test(e.message)
        ? 'Current password is required.'
        : 'Current password is incorrect.');
    }
    throw e;
  }
}

export const getGpio = (opts?: RequestOptions) => get<Gpio>('/api/vm/gpio', opts);

export async function press(type: PressType, durationMs: number): Promise<void> {
  try {
    await post<null>('/api/vm/gpio', { type, duration: durationMs }, { timeoutMs: durationMs + 30_000 });
  } catch (e) {
    if (e instanceof ApiError && e.code === -4) {
      throw new ApiError(-4, 'Another button press is in progress. Try again in a moment.');
    }
    throw e;
  }
}

export const getInfo = () => get<VmInfo>('/api/vm/info');
export const getHardware = () => get<{ version: string }>('/api/vm/hardware');

/** Password policy applied by the server to new passwords (8–72 bytes UTF-8). */
export function passwordPolicyError(pw: string): string | null {
  const n = new TextEncoder().encode(pw).length;
  if (n < 8 || n > 72) return 'Password must be between 8 and 72 bytes.';
  return null;
}

// --- HID (spec §4.3) -------------------------------------------------------

export interface LedState { numLock: boolean; capsLock: boolean; scrollLock: boolean; known: boolean; updatedAt?: string }
export interface ShortcutKey { code: string; label: string }
export interface Shortcut { id: string; keys: ShortcutKey[] }

/** Host keyboard layouts the paste endpoint knows ("" = US). */
export const PASTE_LAYOUTS: ReadonlyArray<{ value: string; label: string }> = [
  { value: '', label: 'English (US)' },
  { value: 'us-intl', label: 'English (US international)' },
  { value: 'uk', label: 'English (UK)' },
  { value: 'de', label: 'German' },
  { value: 'ch-de', label: 'German (Switzerland)' },
  { value: 'fr', label: 'French (AZERTY)' },
  { value: 'es', label: 'Spanish' },
  { value: 'it', label: 'Italian' },
  { value: 'nordic', label: 'Nordic' },
];
export const PASTE_MAX_CHARS = 833;

export async function paste(content: string, langue: string): Promise<void> {
  try {
    // the request lasts ~30 ms per character (up to 25 s)
    await post<null>('/api/hid/paste', { content, langue }, { timeoutMs: 60_000 });
  } catch (e) {
    if (e instanceof ApiError) {
      if (e.code === -2) throw new ApiError(-2, /exceeds/i.test(e.message)
        ? 'The text takes too long to type. Paste it in smaller parts.'
        : `The text is too long (at most ${PASTE_MAX_CHARS} characters).`);
      if (e.code === -3) throw new ApiError(-3, /busy/i.test(e.message)
        ? 'The keyboard is busy with another paste. Try again in a moment.'
        : 'Typing the text failed. Is the host on and connected?');
    }
    throw e;
  }
}

export const getLeds = () => get<LedState>('/api/hid/leds');

export async function getShortcuts(): Promise<Shortcut[]> {
  const d = await get<{ shortcuts: Shortcut[] | null }>('/api/hid/shortcuts');
  return Array.isArray(d?.shortcuts) ? d.shortcuts : [];
}
