"""KasmVNC's automation API on this KVM: screenshots that say "nothing changed", users by API."""
