#!/bin/sh
# One tier of `task test` (lint, pytest, frontend, kernel): run it, print its wall time, record the
# verdict and go on, so a failing tier does not hide what the later ones would say. `--summary` ends
# the run with every tier's time and exits 1 if any failed; `--reset` starts a new run.
#   tools/tier.sh NAME COMMAND [ARG...] | tools/tier.sh --summary | tools/tier.sh --reset
log="${TIER_LOG:-.state/tiers.log}"
mkdir -p "$(dirname "$log")"
case "$1" in
  --reset) : > "$log"; exit 0 ;;
  --summary)
    echo "== tiers (wall time):"
    failed=0
    while read -r name secs rc; do
      if [ "$rc" = 0 ]; then verdict=passed; else verdict="FAILED (exit $rc)"; failed=1; fi
      printf '   %-10s %5d s  %s\n' "$name" "$secs" "$verdict"
    done < "$log"
    exit "$failed" ;;
esac
name=$1
shift
start=$(date +%s)
"$@"
rc=$?
secs=$(($(date +%s) - start))
echo "$name $secs $rc" >> "$log"
if [ "$rc" = 0 ]; then verdict=passed; else verdict="FAILED (exit $rc)"; fi
printf '== tier %s: %d s, %s\n' "$name" "$secs" "$verdict"
