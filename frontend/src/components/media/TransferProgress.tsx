import { formatProgress, formatRate, percentOf } from '../../lib/media';
import type { Transfer } from './useTransfer';

interface Props {
  transfer: Transfer;
  onCancel?: () => void;
  cancelling?: boolean;
}

/** One transfer: what, how far (a bar, or a sweep when the size is unknown), and Cancel. */
export function TransferProgress({ transfer: t, onCancel, cancelling }: Props) {
  const percent = t.kind === 'upload' ? percentOf(t.loaded, t.total) : t.percent;
  const verb = t.kind === 'download' ? 'Downloading' : 'Uploading';
  let detail: string;
  if (t.kind === 'upload') {
    const rate = formatRate(t.loaded, performance.now() - t.startedAt);
    detail = t.loaded >= t.total && t.total > 0
      ? 'Checking the image…'
      : [formatProgress(t.loaded, t.total), rate].filter(Boolean).join(' · ');
  } else {
    detail = percent === null ? 'Size unknown' : `${percent.toFixed(percent < 10 ? 1 : 0)}%`;
  }
  if (t.kind === 'elsewhere') detail += ' (started elsewhere)';

  return (
    <div className="transfer" data-testid="transfer" data-kind={t.kind} data-percent={percent ?? ''} aria-live="polite">
      <div className="transfer-head">
        <span className="transfer-name" title={t.kind === 'download' ? t.url : t.name}>
          {verb} <b>{t.name}</b>
        </span>
        {onCancel && t.kind !== 'elsewhere' && (
          <button type="button" className="btn small" onClick={onCancel} disabled={cancelling}
            aria-label={t.kind === 'upload' ? 'Cancel upload' : 'Cancel download'}>
            {cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
      </div>
      <div
        className={`bar${percent === null ? ' unknown' : ''}`}
        role="progressbar"
        aria-label={`${verb} ${t.name}`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent === null ? undefined : Math.floor(percent)}
      >
        <span style={percent === null ? undefined : { width: `${percent}%` }} />
      </div>
      <span className="small muted">{detail}</span>
    </div>
  );
}
