import { useCallback, useEffect, useRef, useState } from 'react';
import { UnauthorizedError, errorText } from '../../lib/api';
import {
  UploadCancelled, cancelDownload, downloadOutcome, parsePercentage, startDownload, transferStatus,
  uploadImage, type Tone, type UploadHandle,
} from '../../lib/media';

export const STATUS_POLL_MS = 1000;
export const OUTCOME_SHOWN_MS = 15_000;

/** The one transfer the server runs at a time, as this page sees it. */
export type Transfer =
  | { kind: 'upload'; name: string; loaded: number; total: number; startedAt: number }
  | { kind: 'download'; name: string; url: string; percent: number | null }
  /** An upload from another page: shown, not cancellable from here. */
  | { kind: 'elsewhere'; name: string; percent: number | null };

export interface Outcome { tone: Tone; text: string }

export interface Transfers {
  transfer: Transfer | null;
  outcome: Outcome | null;
  /** Starts an upload (refused in `outcome` if the server is busy with another transfer). */
  upload: (file: File, sha256: string) => Promise<void>;
  download: (url: string, name: string, sha256: string) => Promise<void>;
  cancel: () => Promise<void>;
  cancelling: boolean;
}

const nameOfUrl = (url: string) => {
  try {
    return decodeURIComponent(new URL(url).pathname.split('/').pop() || url);
  } catch {
    return url;
  }
};

/**
 * Uploads (XMLHttpRequest, with progress) and downloads by URL (started on the server, then its
 * status polled). Lives in the media panel, so closing the image dialog does not stop a transfer.
 */
export function useTransfer(active: boolean, onFinished: () => void): Transfers {
  const [transfer, setTransfer] = useState<Transfer | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const upload = useRef<UploadHandle | null>(null);
  const poller = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const alive = useRef(true);
  const loopId = useRef(0);
  const elsewhere = useRef(false);
  const finished = useRef(onFinished);
  finished.current = onFinished;

  const finish = useCallback((o: Outcome | null) => {
    setTransfer(null);
    setCancelling(false);
    if (o) setOutcome(o);
    finished.current();
  }, []);

  // Follow the server's status until the transfer ends; `mine` is the download being watched.
  // Each call of `track` starts a new loop and retires the previous one.
  const poll = useCallback(async (loop: number, mine: { url: string; name: string } | null) => {
    let s;
    try {
      s = await transferStatus();
    } catch (e) {
      if (e instanceof UnauthorizedError || !alive.current || loop !== loopId.current) return;
      poller.current = setTimeout(() => void poll(loop, mine), STATUS_POLL_MS * 3); // keep trying, slower
      return;
    }
    if (!alive.current || loop !== loopId.current) return;
    if (s.status === 'in_progress') {
      const percent = parsePercentage(s.percentage);
      if (/^https?:\/\//i.test(s.file)) {
        mine = { url: s.file, name: nameOfUrl(s.file) };
        setTransfer({ kind: 'download', ...mine, percent });
      } else if (!upload.current) {
        elsewhere.current = true;
        setTransfer({ kind: 'elsewhere', name: s.file || 'an image', percent });
      }
      poller.current = setTimeout(() => void poll(loop, mine), STATUS_POLL_MS);
      return;
    }
    if (upload.current) return; // our own upload ends with its request, not with this status
    if (mine) {
      finish(downloadOutcome(s.status, mine.name));
    } else if (elsewhere.current) {
      elsewhere.current = false;
      finish(null);
    }
  }, [finish]);

  const track = useCallback((mine: { url: string; name: string } | null, delay = 0) => {
    clearTimeout(poller.current);
    const loop = ++loopId.current;
    poller.current = setTimeout(() => void poll(loop, mine), delay);
  }, [poll]);

  useEffect(() => {
    alive.current = true;
    if (active) track(null); // a transfer may already be running (another tab, a script)
    return () => {
      alive.current = false;
      clearTimeout(poller.current);
      upload.current?.abort(); // leaving the page ends the upload; the server discards it
    };
  }, [active, track]);

  const startUpload = useCallback(async (file: File, sha256: string) => {
    setOutcome(null);
    // The server refuses a second transfer only after reading some of the body, and a browser
    // still sending then sees a reset connection rather than the answer: ask first.
    const running = await transferStatus();
    if (running.status === 'in_progress') {
      // Said beside the other transfer, which replaces the form: an error in the form would vanish with it.
      setOutcome({ tone: 'error', text: 'Another transfer is in progress. Try again when it has finished.' });
      track(null);
      return;
    }
    const startedAt = performance.now();
    setTransfer({ kind: 'upload', name: file.name, loaded: 0, total: file.size, startedAt });
    const handle = uploadImage(file, file.name, {
      sha256,
      onProgress: ({ loaded, total }) =>
        alive.current && setTransfer({ kind: 'upload', name: file.name, loaded, total, startedAt }),
    });
    upload.current = handle;
    handle.done.then(
      () => alive.current && finish({ tone: 'ok', text: `Uploaded ${file.name}.` }),
      (e) => {
        if (!alive.current || e instanceof UnauthorizedError) return;
        finish(e instanceof UploadCancelled
          ? { tone: 'info', text: e.message }
          : { tone: 'error', text: `Upload of ${file.name} failed: ${errorText(e)}` });
      },
    ).finally(() => {
      if (upload.current === handle) upload.current = null;
    });
  }, [finish, track]);

  const startDl = useCallback(async (url: string, name: string, sha256: string) => {
    setOutcome(null);
    await startDownload(url, sha256); // a refusal (busy, bad URL) throws to the form
    setTransfer({ kind: 'download', url, name, percent: null });
    track({ url, name }, STATUS_POLL_MS / 2);
  }, [track]);

  const cancel = useCallback(async () => {
    const running = upload.current;
    if (running) {
      // The server is told first: a browser may go on sending an aborted upload for a while
      // (throttled connections do), and the server would then keep the whole image.
      running.cancelling();
      await cancelDownload().catch(() => {}); // "nothing to cancel": it ended meanwhile
      running.abort();
      return;
    }
    setCancelling(true);
    try {
      await cancelDownload();
    } catch (e) {
      // "no cancellable download": it ended meanwhile; the next poll reports how
      if (alive.current) setOutcome({ tone: 'error', text: errorText(e) });
    } finally {
      if (alive.current) setCancelling(false);
    }
  }, []);

  // Good news fades; a failure stays until the next transfer.
  useEffect(() => {
    if (!outcome || outcome.tone === 'error') return;
    const t = setTimeout(() => setOutcome(null), OUTCOME_SHOWN_MS);
    return () => clearTimeout(t);
  }, [outcome]);

  return { transfer, outcome, upload: startUpload, download: startDl, cancel, cancelling };
}
