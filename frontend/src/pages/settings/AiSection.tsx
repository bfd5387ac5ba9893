// AI agents (admin): NanoKVM's MCP server (on/off, its API key shown once when made or regenerated,
// the role the key acts with) and the AI control mode. Agents reach /api/mcp with the key as a Bearer
// token; an API token (Settings › Security) works too, with its own scope.
import { useState } from 'react';
import { AI_MODES, getAiStatus, getMcpConfig, regenerateMcpKey, setAiMode, setMcpEnabled, type McpConfig } from '../../lib/ai';
import type { Role } from '../../lib/kvm';
import { Card, LoadState, OutcomeLine, SelectRow, SwitchRow, Value, useAction, useLoad } from './parts';

const ROLES: ReadonlyArray<{ value: Role; label: string }> = [
  { value: 'viewer', label: 'viewer: screenshot, screen text, power LEDs' },
  { value: 'user', label: 'user: also keyboard, mouse, power buttons' },
  { value: 'admin', label: 'admin: also virtual media' },
];

export function AiSection() {
  const config = useLoad(getMcpConfig);
  const status = useLoad(getAiStatus);
  const act = useAction();
  const [key, setKey] = useState(''); // the key of the last answer that made one: shown this once
  const c = config.data;
  const endpoint = `${window.location.origin}/api/mcp`;

  async function reload() {
    await Promise.all([config.reload(), status.reload()]);
  }

  function keep(answer: McpConfig) {
    if (answer.apiKey) setKey(answer.apiKey);
  }

  return (
    <>
      <Card title="MCP server" note={<>AI agents (Claude, Cursor, any MCP client) drive this KVM&apos;s keyboard, mouse and screen through <code>{endpoint}</code> (streamable HTTP) with <code>Authorization: Bearer &lt;key&gt;</code>. A person&apos;s input always wins: agents wait 2 s after your last key, click or paste.</>}>
        <LoadState loaded={config} />
        {c && (
          <>
            <SwitchRow label="MCP server" checked={c.enabled} disabled={act.busy}
              onChange={(on) => void act.run(async () => keep(await setMcpEnabled(on)), on ? 'MCP server on.' : 'MCP server off.', reload)}
              hint="On selects the MCP control mode; off ends every agent's requests." />
            <SelectRow label="The key's role" value={c.role} disabled={act.busy} choices={ROLES}
              onChange={(v) => void act.run(async () => keep(await setMcpEnabled(c.enabled, v as Role)), `The key acts as ${v}.`, reload)}
              hint="Each tool needs a role; a change applies to requests in flight." />
            {key ? (
              <div className="created-token" role="status">
                <p>The MCP API key. Copy it now: it is shown only once (the device keeps only its hash).</p>
                <code data-testid="mcp-key">{key}</code>
                <button className="btn" onClick={() => setKey('')}>Done</button>
              </div>
            ) : (
              <Value label="API key" testId="mcp-key-state"
                value={c.enabled ? 'Set (hidden: regenerate to see a new one)' : 'Made when the server is switched on'} />
            )}
            <div className="srow">
              <span className="srow-label">New key</span>
              <span className="srow-value">
                <button className="btn" disabled={act.busy || !c.enabled}
                  onClick={() => void act.run(async () => keep(await regenerateMcpKey()), 'New MCP key made; the old one no longer works.', reload)}>
                  Regenerate key
                </button>
                <span className="hint">The old key stops working at once, and its requests in flight end.</span>
              </span>
            </div>
          </>
        )}
        <OutcomeLine outcome={act.outcome} />
      </Card>
      <Card title="AI control" note="Who may drive the host besides people. NanoKVM's PicoClaw agent runtime cannot run on this firmware.">
        <LoadState loaded={status} />
        {status.data && (
          <SelectRow label="Control mode" value={status.data.mode} disabled={act.busy} choices={AI_MODES}
            onChange={(v) => void act.run(() => setAiMode(v), `Control mode: ${v}.`, reload)} />
        )}
      </Card>
    </>
  );
}
