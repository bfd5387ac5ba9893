// Our /api/security routes: API tokens, live sessions, per-user TOTP, the audit log.
import { get, post, request } from './api';
import type { Role } from './kvm';

export interface ApiToken {
  id: string; name: string; owner: string; role: Role;
  created: number; expires: number; lastUsed: number; // seconds since the epoch; 0 = never
}
export interface CreatedToken { token: string; info: ApiToken }
export interface LiveSession {
  id: string; username: string; client: string; address: string;
  started: number; lastSeen: number; expires: number; current: boolean;
}
export interface TotpState { enabled: boolean; recoveryCodesLeft: number }
export interface Enrolment { secret: string; uri: string; qrSvg: string }
export interface AuditEntry {
  time: number; action: string; actor: string; address: string; result: string;
  via?: string; detail?: Record<string, string>;
}

export async function listTokens(): Promise<ApiToken[]> { // viewer: own (admin: all)
  return (await get<{ tokens: ApiToken[] }>('/api/security/tokens')).tokens;
}
export const createToken = (name: string, role: Role, expiresIn: number) => // viewer, login session
  post<CreatedToken>('/api/security/tokens', { name, role, expiresIn });
export const revokeToken = (id: string) => request<null>('DELETE', `/api/security/tokens/${encodeURIComponent(id)}`);

export async function listSessions(): Promise<LiveSession[]> { // viewer: own (admin: all)
  return (await get<{ sessions: LiveSession[] }>('/api/security/sessions')).sessions;
}
export const endSession = (id: string) => request<null>('DELETE', `/api/security/sessions/${encodeURIComponent(id)}`);

export const getTotp = () => get<TotpState>('/api/security/totp');
export const beginTotp = () => post<Enrolment>('/api/security/totp/enrol');
export async function confirmTotp(code: string): Promise<string[]> {
  return (await post<{ recoveryCodes: string[] }>('/api/security/totp/confirm', { code })).recoveryCodes;
}
export const disableTotp = (code: string) => post<null>('/api/security/totp/disable', { code });

export async function listAudit(limit = 200): Promise<AuditEntry[]> { // admin
  return (await get<{ entries: AuditEntry[] }>(`/api/security/audit?limit=${limit}`)).entries;
}

/** Token lifetimes offered in the form (seconds; 0 = never). */
export const LIFETIMES: ReadonlyArray<{ value: number; label: string }> = [
  { value: 0, label: 'Never expires' },
  { value: 86_400, label: '1 day' },
  { value: 30 * 86_400, label: '30 days' },
  { value: 365 * 86_400, label: '1 year' },
];

export function when(seconds: number): string {
  if (!seconds) return '—';
  return new Date(seconds * 1000).toLocaleString();
}

/** The browser and system from a user-agent string, short enough for a table. */
export function clientName(agent: string): string {
  if (!agent) return 'unknown client';
  const browser = /(Firefox|Edg|Chrome|Chromium|Safari|curl|python-requests|aiohttp|python-httpx)\/[\d.]+/.exec(agent)?.[0];
  return browser ?? (agent.length > 40 ? `${agent.slice(0, 40)}…` : agent);
}
