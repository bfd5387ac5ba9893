// Screen: resolution, quality, frame rate and frame detect (user), HDMI capture (reset: user;
// on/off and idle timeout: admin). Viewers see the values.
import { useState } from 'react';
import type { Account } from '../../lib/kvm';
import {
  FPS, IDLE_TIMEOUTS, QUALITIES, RESOLUTIONS, atLeast, getFrameDetect, getHdmi, getScreen, labelOf,
  resetHdmi, setFrameDetect, setHdmi, setHdmiTimeout, setScreen, withCurrent, type ScreenKind,
} from '../../lib/settings';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { Card, LoadState, OutcomeLine, SelectRow, SwitchRow, Value, useAction, useLoad } from './parts';

export function ScreenSection({ account }: { account: Account }) {
  const canSet = atLeast(account.role, 'user');
  const isAdmin = atLeast(account.role, 'admin');
  const video = useLoad(async () => {
    const [screen, detect] = await Promise.all([getScreen(), getFrameDetect()]);
    return { screen, detect };
  });
  const hdmi = useLoad(getHdmi);
  const videoAct = useAction();
  const hdmiAct = useAction();
  const [confirmOff, setConfirmOff] = useState(false);

  async function change(kind: ScreenKind, value: number) {
    // read back: the server may clamp (fps) and another client may have changed the rest
    await videoAct.run(() => setScreen(kind, value), 'Saved.', video.reload);
  }

  async function detect(on: boolean) {
    await videoAct.run(() => setFrameDetect(on), on ? 'Frame detect on.' : 'Frame detect off.', video.reload);
  }

  async function hdmiDo(fn: () => Promise<unknown>, done: string) {
    await hdmiAct.run(fn, done, hdmi.reload);
  }

  const s = video.data?.screen;
  const h = hdmi.data;
  return (
    <>
      <Card
        title="Video"
        note={canSet ? 'Changes apply at once to everyone watching.' : 'Your account can view these settings but not change them.'}
      >
        <LoadState loaded={video} />
        {s && video.data && (canSet ? (
          <>
            <SelectRow
              label="Resolution"
              value={s.resolution}
              choices={withCurrent(RESOLUTIONS, s.resolution)}
              disabled={videoAct.busy}
              onChange={(v) => void change('resolution', Number(v))}
            />
            <SelectRow
              label="Quality"
              value={s.quality}
              choices={withCurrent(QUALITIES, s.quality)}
              disabled={videoAct.busy}
              onChange={(v) => void change('quality', Number(v))}
              hint="Lower quality needs less bandwidth."
            />
            <SelectRow
              label="Frame rate"
              value={s.fps}
              choices={withCurrent(FPS, s.fps)}
              disabled={videoAct.busy}
              onChange={(v) => void change('fps', Number(v))}
              hint="Frames per second, at most."
            />
            <SwitchRow
              label="Frame detect"
              checked={video.data.detect}
              disabled={videoAct.busy}
              onChange={(on) => void detect(on)}
              hint="Send nothing while the picture does not change."
            />
          </>
        ) : (
          <>
            <Value label="Resolution" value={labelOf(RESOLUTIONS, s.resolution)} testId="screen-resolution" />
            <Value label="Quality" value={labelOf(QUALITIES, s.quality)} testId="screen-quality" />
            <Value label="Frame rate" value={`${s.fps} fps`} testId="screen-fps" />
            <Value label="Frame detect" value={video.data.detect ? 'On' : 'Off'} />
          </>
        ))}
        <OutcomeLine outcome={videoAct.outcome} />
      </Card>

      <Card title="HDMI capture">
        <LoadState loaded={hdmi} />
        {h && (
          <>
            <Value
              label="Status"
              testId="hdmi-status"
              value={!h.enabled ? 'Off' : h.signal ? 'On, signal present' : 'On, no signal'}
            />
            {isAdmin ? (
              <>
                <SwitchRow
                  label="Capture"
                  checked={h.enabled}
                  disabled={hdmiAct.busy}
                  optimistic={false}
                  onChange={(on) => (on ? void hdmiDo(() => setHdmi(true), 'Capture on.') : setConfirmOff(true))}
                />
                <SelectRow
                  label="Switch off when nobody watches"
                  value={h.idleTimeout}
                  choices={withCurrent(IDLE_TIMEOUTS, h.idleTimeout, (v) => `After ${v} minutes`)}
                  disabled={hdmiAct.busy}
                  onChange={(v) => void hdmiDo(() => setHdmiTimeout(Number(v)), 'Saved.')}
                />
              </>
            ) : (
              <Value label="Switch off when nobody watches" value={labelOf(IDLE_TIMEOUTS, h.idleTimeout)} />
            )}
            {canSet && (
              <div className="srow-actions">
                <button
                  className="btn"
                  disabled={hdmiAct.busy}
                  onClick={() => void hdmiDo(resetHdmi, 'HDMI capture restarted.')}
                >
                  {hdmiAct.busy ? 'Working…' : 'Restart capture'}
                </button>
                <span className="hint">Often brings back a picture that froze or went black.</span>
              </div>
            )}
          </>
        )}
        <OutcomeLine outcome={hdmiAct.outcome} />
      </Card>

      {confirmOff && (
        <ConfirmDialog
          title="Switch HDMI capture off?"
          confirmLabel="Switch off"
          danger
          onCancel={() => setConfirmOff(false)}
          onConfirm={() => {
            setConfirmOff(false);
            void hdmiDo(() => setHdmi(false), 'Capture off.');
          }}
        >
          Nobody sees the host's screen until capture is switched on again.
        </ConfirmDialog>
      )}
    </>
  );
}
