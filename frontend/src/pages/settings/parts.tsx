// Building blocks shared by the settings sections: loading, running an action with its
// outcome shown in place, and the form rows.
import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { errorText } from '../../lib/api';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => Promise<void>;
}

/** Runs `load` on mount (and on reload); keeps the last good data when a reload fails. */
export function useLoad<T>(load: () => Promise<T>): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const live = useRef(true);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = useCallback(async () => {
    setLoading(true);
    try {
      const d = await loadRef.current();
      if (!live.current) return;
      setData(d);
      setError(null);
    } catch (e) {
      if (live.current) setError(errorText(e));
    } finally {
      if (live.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    live.current = true;
    void reload();
    return () => {
      live.current = false;
    };
  }, [reload]);

  return { data, error, loading, reload };
}

export interface Outcome { ok: boolean; text: string }

/**
 * One action at a time per card; its outcome (the server's text on failure) is shown in place.
 * `after` (a reload) runs before the card is free again, so controls never show stale values.
 */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const live = useRef(true);
  useEffect(() => {
    live.current = true;
    return () => {
      live.current = false;
    };
  }, []);

  const run = useCallback(async (fn: () => Promise<unknown>, done?: string, after?: () => Promise<void>): Promise<boolean> => {
    setBusy(true);
    setOutcome(null);
    let ok = false;
    try {
      await fn();
      ok = true;
      if (live.current && done) setOutcome({ ok: true, text: done });
    } catch (e) {
      if (live.current) setOutcome({ ok: false, text: errorText(e) });
    }
    try {
      await after?.();
    } finally {
      if (live.current) setBusy(false);
    }
    return ok;
  }, []);

  const fail = useCallback((text: string) => setOutcome({ ok: false, text }), []);
  const done = useCallback((text: string) => setOutcome({ ok: true, text }), []);
  return { busy, outcome, run, fail, done };
}

export function OutcomeLine({ outcome }: { outcome: Outcome | null }) {
  if (!outcome) return null;
  return outcome.ok
    ? <p className="outcome ok" role="status">{outcome.text}</p>
    : <p className="outcome error" role="alert">{outcome.text}</p>;
}

export function Card({ title, children, note }: { title: string; children: ReactNode; note?: ReactNode }) {
  return (
    <section className="card settings-card" aria-label={title}>
      <h2>{title}</h2>
      {note && <p className="muted small card-note">{note}</p>}
      {children}
    </section>
  );
}

/** Shown while a card's first load runs, or instead of it when that load failed. */
export function LoadState({ loaded }: { loaded: Loaded<unknown> }) {
  if (loaded.data !== null) return loaded.error ? <p className="outcome error" role="alert">{loaded.error}</p> : null;
  if (loaded.error) return <p className="outcome error" role="alert">{loaded.error}</p>;
  return <p className="muted small">Loading…</p>;
}

/** A read-only value: what viewers see instead of a control. */
export function Value({ label, value, testId }: { label: string; value: ReactNode; testId?: string }) {
  return (
    <div className="srow">
      <span className="srow-label">{label}</span>
      <span className="srow-value" data-testid={testId}>{value}</span>
    </div>
  );
}

/** The value a control shows while its change is on its way; forgotten once the card is free again. */
function usePending<T>(disabled: boolean | undefined) {
  const state = useState<T | null>(null);
  const setPending = state[1];
  useEffect(() => {
    if (!disabled) setPending(null);
  }, [disabled, setPending]);
  return state;
}

type Choices = ReadonlyArray<{ value: number | string; label: string }>;

/** A select that, like Switch, shows the choice at once while it is on its way. */
export function Select({ value, choices, disabled, onChange, optimistic = true, ...rest }: {
  value: number | string;
  choices: Choices;
  disabled?: boolean;
  onChange: (v: string) => void;
  optimistic?: boolean;
  id?: string;
  'aria-label'?: string;
  title?: string;
}) {
  const [pending, setPending] = usePending<string>(disabled);
  return (
    <select
      {...rest}
      value={pending ?? String(value)}
      disabled={disabled}
      onChange={(e) => {
        if (optimistic) setPending(e.target.value);
        onChange(e.target.value);
      }}
    >
      {choices.map((c) => <option key={c.value} value={c.value}>{c.label}</option>)}
    </select>
  );
}

export function SelectRow({ label, value, choices, disabled, onChange, hint, optimistic }: {
  label: string;
  optimistic?: boolean;
  value: number | string;
  choices: Choices;
  disabled?: boolean;
  onChange: (v: string) => void;
  hint?: string;
}) {
  const id = useId();
  return (
    <div className="srow">
      <label className="srow-label" htmlFor={id}>{label}</label>
      <span className="srow-value">
        <Select id={id} value={value} choices={choices} disabled={disabled} onChange={onChange} optimistic={optimistic} />
        {hint && <span className="hint">{hint}</span>}
      </span>
    </div>
  );
}

/**
 * A checkbox drawn as a switch. It shows the flip at once while the change is on its way
 * (`disabled` meanwhile), then whatever `checked` says once the card is free again.
 */
export function Switch({ checked, disabled, onChange, optimistic = true, ...rest }: {
  checked: boolean;
  disabled?: boolean;
  onChange: (on: boolean) => void;
  /** false for changes that ask first: the old value stays until the server has the new one */
  optimistic?: boolean;
  id?: string;
  'aria-label'?: string;
  title?: string;
}) {
  const [pending, setPending] = usePending<boolean>(disabled);
  const shown = pending ?? checked;
  return (
    <input
      {...rest}
      className="switch"
      type="checkbox"
      role="switch"
      checked={shown}
      aria-checked={shown}
      disabled={disabled}
      onChange={(e) => {
        if (optimistic) setPending(e.target.checked);
        onChange(e.target.checked);
      }}
    />
  );
}

export function SwitchRow({ label, checked, disabled, onChange, hint, optimistic }: {
  label: string;
  optimistic?: boolean;
  checked: boolean;
  disabled?: boolean;
  onChange: (on: boolean) => void;
  hint?: string;
}) {
  const id = useId();
  return (
    <div className="srow">
      <label className="srow-label" htmlFor={id}>{label}</label>
      <span className="srow-value">
        <Switch id={id} checked={checked} disabled={disabled} onChange={onChange} optimistic={optimistic} />
        {hint && <span className="hint">{hint}</span>}
      </span>
    </div>
  );
}
