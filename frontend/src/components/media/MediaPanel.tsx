import type { Account } from '../../lib/kvm';

// Virtual media (spec §4.5, §4.6, §7.4): image library, transfers, mount, USB toggles.
// Placeholder until the media panel lands.
export function MediaPanel(_: { account: Account }) {
  return null;
}
