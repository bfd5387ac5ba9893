// NanoKVM's AI control routes (spec §4.10; admin): the MCP server's switch and key, the role the key
// acts with (ours), and the control mode. The key is in an answer only when it was just made.
import { get, post, request } from './api';
import type { Role } from './kvm';

export interface McpConfig { enabled: boolean; apiKey: string; controlMode: string; transitioning: boolean; role: Role }
export interface AiStatus { mode: string; transitioning: boolean }

export const getMcpConfig = () => get<McpConfig>('/api/mcp/config');
/** On: makes a key if there is none (in this answer only) and selects the mcp mode. Off: mode off. */
export const setMcpEnabled = (enabled: boolean, role?: Role) =>
  post<McpConfig>('/api/mcp/config', role ? { enabled, role } : { enabled });
export const regenerateMcpKey = () => post<McpConfig>('/api/mcp/key/regenerate');
export const getAiStatus = () => get<AiStatus>('/api/ai/control/status');
export const setAiMode = (mode: string) => request<AiStatus>('PUT', '/api/ai/control/mode', { mode });

export const AI_MODES: ReadonlyArray<{ value: string; label: string }> = [
  { value: 'off', label: 'Off: no agent' },
  { value: 'mcp', label: 'MCP: agents through /api/mcp' },
];
