import { useCallback, useEffect, useRef, useState } from 'react';
import { ForbiddenError, UnauthorizedError, errorText } from '../../lib/api';
import {
  getMounted, getVirtualDevices, listImages, transfersEnabled,
  type Mounted, type VirtualDevices,
} from '../../lib/media';

// Someone else (another tab, the nanokvm client, Home Assistant) may mount or eject meanwhile.
export const MEDIA_POLL_MS = 10_000;

export interface MediaLibrary {
  images: string[] | null;
  mounted: Mounted | null;
  mountedError: string | null;
  devices: VirtualDevices | null;
  /** Whether /data takes new files (null until known). */
  enabled: boolean | null;
  /** The server refuses this account the media routes (they are admin-only). */
  forbidden: boolean;
  loadError: string | null;
  refresh: () => Promise<void>;
  /** Re-asks whether /data takes new files. */
  probe: () => Promise<void>;
}

/** The image list, the mounted image and the USB devices, polled while the tab is visible. */
export function useMediaLibrary(manage: boolean): MediaLibrary {
  const [images, setImages] = useState<string[] | null>(null);
  const [mounted, setMounted] = useState<Mounted | null>(null);
  const [mountedError, setMountedError] = useState<string | null>(null);
  const [devices, setDevices] = useState<VirtualDevices | null>(null);
  const [enabled, setEnabled] = useState<boolean | null>(null);
  const [forbidden, setForbidden] = useState(false);
  const [loadError, setLoadError] = useState<string | null>(null);
  const alive = useRef(true);

  const refresh = useCallback(async () => {
    // Each part on its own: a disk switched off makes "mounted" fail, not the list.
    const mountedP = getMounted().then(
      (m) => {
        if (!alive.current) return;
        setMounted(m);
        setMountedError(null);
      },
      (e) => {
        if (!alive.current || e instanceof UnauthorizedError) return;
        if (e instanceof ForbiddenError) setForbidden(true);
        else {
          setMounted(null); // stale otherwise
          setMountedError(errorText(e));
        }
      },
    );
    if (!manage) {
      await mountedP;
      return;
    }
    const errors: string[] = [];
    const note = (e: unknown) => {
      if (!(e instanceof UnauthorizedError)) errors.push(errorText(e));
    };
    await Promise.all([
      mountedP,
      listImages().then((l) => alive.current && setImages(l), note),
      getVirtualDevices().then((d) => alive.current && setDevices(d), note),
    ]);
    if (alive.current) setLoadError(errors.length ? errors[0] : null);
  }, [manage]);

  // The probe creates and deletes a file in /data: asked on demand, not polled (SD card wear).
  const probe = useCallback(async () => {
    if (!manage) return;
    try {
      const x = await transfersEnabled();
      if (alive.current) setEnabled(x);
    } catch {
      /* left unknown; the forms stay usable and the server still refuses what it cannot store */
    }
  }, [manage]);

  useEffect(() => {
    alive.current = true;
    void refresh();
    void probe();
    const timer = setInterval(() => !document.hidden && void refresh(), MEDIA_POLL_MS);
    const onVis = () => !document.hidden && void refresh();
    document.addEventListener('visibilitychange', onVis);
    return () => {
      alive.current = false;
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVis);
    };
  }, [refresh, probe]);

  return { images, mounted, mountedError, devices, enabled, forbidden, loadError, refresh, probe };
}
