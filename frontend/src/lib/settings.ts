// Typed wrappers for the routes the settings page uses (spec §4.1, §4.2, §4.3, §4.4, §4.7, §6.5)
// and the pure helpers behind its forms. Each wrapper names the route's minimum role (app/api).
import { encryptPassword } from './encrypt';
import { ApiError, ForbiddenError, get, post, request } from './api';
import { getWebTitle } from './title';
import { passwordPolicyError, type Role } from './kvm';

// --- roles and sections ----------------------------------------------------------------------

const RANK: Record<Role, number> = { viewer: 0, user: 1, admin: 2 };

/** Whether `role` reaches `min` (viewer < user < admin); unknown roles reach nothing. */
export function atLeast(role: Role | string | undefined, min: Role): boolean {
  const r = RANK[role as Role];
  return r !== undefined && r >= RANK[min];
}

export type SectionId = 'screen' | 'users' | 'account' | 'device' | 'hid' | 'wol' | 'vnc' | 'ai' | 'recordings' | 'security' | 'audit';
export interface SectionInfo { id: SectionId; label: string; min: Role }

/** The page's sections in order, with the least role that sees each at all. */
export const SECTIONS: readonly SectionInfo[] = [
  { id: 'screen', label: 'Screen', min: 'viewer' },
  { id: 'device', label: 'Device', min: 'viewer' },
  { id: 'hid', label: 'Keyboard & mouse', min: 'viewer' },
  { id: 'wol', label: 'Wake-on-LAN', min: 'user' }, // its list is user-only on the server
  { id: 'users', label: 'Users', min: 'admin' },
  { id: 'vnc', label: 'VNC', min: 'admin' },
  { id: 'ai', label: 'AI agents (MCP)', min: 'admin' },
  { id: 'recordings', label: 'Recordings', min: 'admin' }, // /recording and /api/recordings are admin-only
  { id: 'account', label: 'Your account', min: 'viewer' },
  { id: 'security', label: 'Security', min: 'viewer' }, // your own 2FA, tokens, sessions (ours)
  { id: 'audit', label: 'Audit log', min: 'admin' },
];

export function visibleSections(role: Role | string | undefined): SectionInfo[] {
  return SECTIONS.filter((s) => atLeast(role, s.min));
}

// --- choices ----------------------------------------------------------------------------------

export interface Choice { value: number; label: string }

/** The heights the server accepts (0 = what the host sends). */
export const RESOLUTIONS: readonly Choice[] = [
  { value: 0, label: 'Native (as the host sends it)' },
  { value: 1080, label: '1920 × 1080' },
  { value: 720, label: '1280 × 720' },
  { value: 600, label: '800 × 600' },
  { value: 480, label: '640 × 480' },
];

/** MJPEG quality 1..100 (values above 100 would set the H.264 bitrate instead). */
export const QUALITIES: readonly Choice[] = [
  { value: 100, label: 'Best (100)' },
  { value: 90, label: 'Very high (90)' },
  { value: 80, label: 'High (80, default)' },
  { value: 60, label: 'Medium (60)' },
  { value: 50, label: 'Low (50)' },
  { value: 30, label: 'Lowest (30)' },
];

/** The server clamps fps to 10..60. */
export const FPS: readonly Choice[] = [60, 50, 30, 25, 20, 15, 10].map((v) => ({
  value: v,
  label: v === 30 ? '30 (default)' : `${v}`,
}));

/** HDMI capture switched off after this many minutes without a viewer (0 = never). */
export const IDLE_TIMEOUTS: readonly Choice[] = [
  { value: 0, label: 'Never' },
  { value: 5, label: 'After 5 minutes' },
  { value: 15, label: 'After 15 minutes' },
  { value: 30, label: 'After 30 minutes' },
  { value: 60, label: 'After 1 hour' },
  { value: 240, label: 'After 4 hours' },
  { value: 1440, label: 'After 1 day' },
];

/** OLED sleep in seconds, NanoKVM's choices (0 = never). */
export const OLED_SLEEPS: readonly Choice[] = [
  { value: 0, label: 'Never' },
  { value: 15, label: '15 seconds' },
  { value: 30, label: '30 seconds' },
  { value: 60, label: '1 minute' },
  { value: 180, label: '3 minutes' },
  { value: 300, label: '5 minutes' },
  { value: 600, label: '10 minutes' },
  { value: 1800, label: '30 minutes' },
  { value: 3600, label: '1 hour' },
];

/** The choices plus the current value when it is not one of them (set by another client). */
export function withCurrent(choices: readonly Choice[], current: number, label = (v: number) => `${v}`): Choice[] {
  if (choices.some((c) => c.value === current)) return [...choices];
  return [...choices, { value: current, label: label(current) }];
}

export function labelOf(choices: readonly Choice[], value: number): string {
  return choices.find((c) => c.value === value)?.label ?? `${value}`;
}

// --- screen and HDMI (§6.5, §4.2, §4.4) -------------------------------------------------------------

export interface ScreenState { type: string; resolution: number; quality: number; fps: number; bitrate: number; gop: number }
export type ScreenKind = 'resolution' | 'quality' | 'fps';
export interface HdmiState { enabled: boolean; signal: boolean; idleTimeout: number }

export const getScreen = () => get<ScreenState>('/api/vm/screen'); // viewer (ours)
export const setScreen = (type: ScreenKind, value: number) => post<null>('/api/vm/screen', { type, value }); // user
export async function getFrameDetect(): Promise<boolean> { // viewer
  return !!(await get<{ enabled: boolean }>('/api/stream/mjpeg/detect'))?.enabled;
}
export async function setFrameDetect(enabled: boolean): Promise<boolean> { // user
  return !!(await post<{ enabled: boolean }>('/api/stream/mjpeg/detect', { enabled }))?.enabled;
}
export const getHdmi = () => get<HdmiState>('/api/vm/hdmi'); // viewer
export const resetHdmi = () => post<null>('/api/vm/hdmi/reset', undefined, { timeoutMs: 15_000 }); // user
export const setHdmi = (enabled: boolean) => post<null>(`/api/vm/hdmi/${enabled ? 'enable' : 'disable'}`); // admin
export const setHdmiTimeout = (minutes: number) => post<null>('/api/vm/hdmi/timeout', { minutes }); // admin

// --- users (§4.1 HEAD) ---------------------------------------------------------------------------

export interface UserEntry { username: string; role: Role; enabled: boolean; systemAccount?: boolean }
export const ROLES: readonly Role[] = ['viewer', 'user', 'admin'];
export const ROLE_HELP: Record<Role, string> = {
  viewer: 'sees the screen and the state; cannot type, click, power or mount',
  user: 'controls the host: keyboard, mouse, power, paste, Wake-on-LAN',
  admin: 'everything, including users and device settings',
};

/** Client-side checks for a new password and its confirmation; null when fine. */
export function newPasswordError(password: string, confirm: string): string | null {
  return passwordPolicyError(password) ?? (password !== confirm ? 'The passwords do not match.' : null);
}

export async function listUsers(): Promise<UserEntry[]> { // admin
  const d = await get<{ users: UserEntry[] | null }>('/api/auth/users');
  return Array.isArray(d?.users) ? d.users : [];
}
export const createUser = (username: string, password: string, role: Role) => // admin
  post<null>('/api/auth/users', { username, password: encryptPassword(password), role });
export const updateUser = (username: string, change: { role?: Role; enabled?: boolean }) => // admin
  request<null>('PUT', `/api/auth/users/${encodeURIComponent(username)}`, change);
export const deleteUser = (username: string) => // admin
  request<null>('DELETE', `/api/auth/users/${encodeURIComponent(username)}`);
export const setUserPassword = (username: string, password: string) => // admin
  post<null>(`/api/auth/users/${encodeURIComponent(username)}/password`, { password: encryptPassword(password) });

// --- device (§4.2) -----------------------------------------------------------------------------

export interface Enabled { enabled: boolean }
export interface Oled { exist: boolean; sleep: number }

export const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
export const TITLE_MAX = 64;

/** The server's hostname rule, checked before sending so the user sees it at once. */
export function hostnameError(name: string): string | null {
  if (HOSTNAME_RE.test(name)) return null;
  return "A hostname is 1 to 63 letters, digits or '-', not starting or ending with '-'.";
}

export function titleError(title: string): string | null {
  if ([...title].length > TITLE_MAX) return `A title is at most ${TITLE_MAX} characters.`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(title)) return 'A title cannot contain control characters.';
  return null;
}

export async function getHostname(): Promise<string> { // viewer
  return (await get<{ hostname: string }>('/api/vm/hostname'))?.hostname ?? '';
}
export const setHostname = (hostname: string) => post<null>('/api/vm/hostname', { hostname }); // admin
export { getWebTitle }; // viewer
export const setWebTitle = (title: string) => post<null>('/api/vm/web-title', { title }); // admin ("" resets)
export const getSsh = () => get<Enabled>('/api/vm/ssh'); // admin
export const setSsh = (on: boolean) => post<null>(`/api/vm/ssh/${on ? 'enable' : 'disable'}`); // admin
export const getMdns = () => get<Enabled>('/api/vm/mdns'); // admin
export const setMdns = (on: boolean) => post<null>(`/api/vm/mdns/${on ? 'enable' : 'disable'}`); // admin
export const getOled = () => get<Oled>('/api/vm/oled'); // admin
export const setOledSleep = (sleep: number) => post<null>('/api/vm/oled', { sleep }); // admin
/** The app restarts to apply it; the connection drops (admin). */
export const setTls = (enabled: boolean) => post<null>('/api/vm/tls', { enabled });
export const reboot = () => post<null>('/api/vm/system/reboot'); // admin

// --- keyboard and mouse (§4.3) --------------------------------------------------------------------

export type HidMode = 'normal' | 'hid-only';
export type JigglerMode = 'absolute' | 'relative';
export interface Jiggler { enabled: boolean; mode: JigglerMode }

export async function getHidMode(): Promise<HidMode> { // viewer
  return (await get<{ mode: HidMode }>('/api/hid/mode')).mode;
}
export const setHidMode = (mode: HidMode) => post<null>('/api/hid/mode', { mode }, { timeoutMs: 60_000 }); // admin
export const getJiggler = () => get<Jiggler>('/api/vm/mouse-jiggler'); // admin
// NanoKVM's POST route is the trailing-slash form; the bare one redirects.
export const setJiggler = (j: Jiggler) => post<null>('/api/vm/mouse-jiggler/', j); // admin

// --- Wake-on-LAN (§4.7) ----------------------------------------------------------------------------

export interface WolTarget { mac: string; name: string }

/** "aa-bb-cc-dd-ee-ff", "aabb.ccdd.eeff"... -> "AA:BB:CC:DD:EE:FF", or null (the server's rule). */
export function normalizeMac(input: string): string | null {
  const hex = input.trim().replace(/[-:.]/g, '');
  if (!/^[0-9A-Fa-f]{12}$/.test(hex)) return null;
  return hex.toUpperCase().match(/../g)!.join(':');
}

/** One saved line, "MAC" or "MAC name with spaces". */
export function parseWolEntry(line: string): WolTarget {
  const t = line.trim();
  const i = t.search(/\s/);
  return i < 0 ? { mac: t, name: '' } : { mac: t.slice(0, i), name: t.slice(i + 1).trim() };
}

export async function listWol(): Promise<WolTarget[]> { // user
  const d = await get<{ macs: string[] | null }>('/api/network/wol/mac');
  return (Array.isArray(d?.macs) ? d.macs : []).filter((l) => l.trim()).map(parseWolEntry);
}
export const wake = (mac: string) => post<null>('/api/network/wol', { mac }); // user (and saves the MAC)
export const forgetMac = (mac: string) => request<null>('DELETE', '/api/network/wol/mac', { mac }); // admin
export const nameMac = (mac: string, name: string) => post<null>('/api/network/wol/mac/name', { mac, name }); // admin

// --- misc --------------------------------------------------------------------------------------

/** An optional read: null when the route refuses this role or fails, so a section can still show. */
export async function maybe<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ApiError || e instanceof ForbiddenError) return null;
    throw e;
  }
}

// --- VNC server (ours) ------------------------------------------------------------------------------

export interface VncClient { peer: string; username: string; role: string; transport: string; connected: number; encoding: string; updates: number }
export interface VncStatus { enabled: boolean; running: boolean; port: number; layout: string; vncPassword: boolean; tls: boolean; clients: VncClient[] }
export const VNC_LAYOUTS = ['us', 'de', 'fr', 'uk', 'es', 'it', 'ch-de', 'nordic', 'us-intl'] as const;
export const getVnc = () => get<VncStatus>('/api/vnc'); // admin
export const setVncLayout = (layout: string) => post<VncStatus>('/api/vnc/settings', { layout }); // admin
export const setVncEnabled = (enabled: boolean) => post<VncStatus>('/api/vnc/settings', { enabled }); // admin
/** "" removes the VNC password. */
export const setVncPassword = (password: string) =>
  post<VncStatus>('/api/vnc/settings', { password: password ? encryptPassword(password) : '' }); // admin
