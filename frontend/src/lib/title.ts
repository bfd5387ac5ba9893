// The browser tab's title follows the device's web title (GET /api/vm/web-title, spec §4.2).
// Kept apart from settings.ts: the first page needs only this, not the settings wrappers.
import { ApiError, get } from './api';

/** index.html's own <title>, used while no web title is set. */
export const DEFAULT_TITLE = 'KVM';

export function titleFor(webTitle: string | null | undefined): string {
  const t = webTitle?.trim();
  return t ? t : DEFAULT_TITLE;
}

export function applyTitle(webTitle: string | null | undefined): void {
  document.title = titleFor(webTitle);
}

/** The server's title, or "" when none is set (NanoKVM answers code -1 for an unset title). */
export async function getWebTitle(): Promise<string> {
  try {
    return (await get<{ title: string }>('/api/vm/web-title'))?.title ?? '';
  } catch (e) {
    if (e instanceof ApiError) return '';
    throw e;
  }
}

/** Fetch and apply; a failure keeps the default (the title is cosmetic). */
export async function refreshTitle(): Promise<void> {
  try {
    applyTitle(await getWebTitle());
  } catch {
    applyTitle(null);
  }
}
