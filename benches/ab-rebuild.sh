#!/usr/bin/env bash
# A/B rebuild: one log rebuilt by two releases, runs alternating, min/median/max of each.
#
#   benches/ab-rebuild.sh OLD_XIEZHI NEW_XIEZHI DATA_DIR [RUNS]
#
# DATA_DIR is a data directory written by the old release (store layout 3: log and store in one
# sled database). Three commands are timed, in turn, RUNS times (default 5), each into a fresh
# directory:
#   old         OLD_XIEZHI rebuild --from DATA_DIR           (the old release's rebuild)
#   new-migrate NEW_XIEZHI rebuild --from DATA_DIR           (carries the JSON log over, rebuilds)
#   new         NEW_XIEZHI rebuild --from <a migrated dir>   (the current log format)
# Wall-clock seconds per run; events/s from the event count the commands print.
set -euo pipefail
old=$1 new=$2 data=$3 runs=${4:-5}
work=$(mktemp -d /tmp/xiezhi-ab-XXXXXX)
trap 'rm -rf "$work"' EXIT
export XIEZHI_SECURITY__INSECURE_DEV=true

"$new" rebuild --from "$data" --data-dir "$work/migrated" >/dev/null 2>&1

timed() { # name command...
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" >"$work/out" 2>&1 || { cat "$work/out"; exit 1; }
  end=$(date +%s.%N)
  events=$(grep -o '[0-9]* events applied' "$work/out" | grep -o '^[0-9]*')
  echo "$name $(awk -v s="$start" -v e="$end" 'BEGIN { print e - s }') $events" >>"$work/times"
}

for i in $(seq 1 "$runs"); do
  timed old "$old" rebuild --from "$data" --data-dir "$work/old-$i"
  timed new-migrate "$new" rebuild --from "$data" --data-dir "$work/mig-$i"
  timed new "$new" rebuild --from "$work/migrated" --data-dir "$work/new-$i"
  rm -rf "$work/old-$i" "$work/mig-$i" "$work/new-$i"
done

echo "| command | runs | events | min s | median s | max s | events/s (median) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for name in old new-migrate new; do
  grep "^$name " "$work/times" | sort -k2 -n | awk -v name="$name" '
    { t[NR] = $2; events = $3 }
    END {
      median = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
      printf "| %s | %d | %d | %.2f | %.2f | %.2f | %.0f |\n", name, NR, events, t[1], median, t[NR], events / median
    }'
done
