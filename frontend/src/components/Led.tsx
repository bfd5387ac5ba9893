interface Props {
  label: string;
  on: boolean | null; // null = unknown
  color: 'green' | 'amber';
  testId: string;
}

export function Led({ label, on, color, testId }: Props) {
  const state = on === null ? 'unknown' : on ? 'on' : 'off';
  return (
    <div className="led-row" data-testid={testId} data-state={state} role="status" aria-label={`${label} LED ${state}`}>
      <span className={`led ${color} ${state}`} aria-hidden="true" />
      <span className="led-label">{label}</span>
      <span className="led-state">{state === 'unknown' ? '—' : state.toUpperCase()}</span>
    </div>
  );
}
