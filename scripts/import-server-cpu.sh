#!/usr/bin/env bash
# The PostgreSQL server's CPU time for one import of 1,000,000 contacts, for
# comparing builds on a noisy machine: wall time moves with whatever else
# the machine does, the server's work per row much less. Generates a CSV in
# the shape `swell bench import` writes (Python), then for each round and
# each build given runs the import (`swell bench import-one`, the child
# `bench import` runs) into a fresh database and prints its rows/s and the
# CPU seconds the server's processes used meanwhile (read from /proc: the
# postmaster's reaped children and its live ones).
# Usage: scripts/import-server-cpu.sh [ROUNDS] SWELL_BINARY... (default:
# 3 rounds of target/release/swell). Run on the machine of the test server
# (127.0.0.1:5432), as a user who can read its /proc entries, with psql.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=3
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then ROUNDS=$1; shift; fi
BINARIES=("$@")
[ ${#BINARIES[@]} -gt 0 ] || BINARIES=(target/release/swell)
ADMIN="postgres://postgres@127.0.0.1:5432"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CSV="$WORK/contacts.csv"
python3 - "$CSV" <<'EOF'
import random, sys
family = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi"]
given = ["An", "Bình", "Đức", "Hà", "Lan", "Minh", "Nam", "Thảo", "Trang", "Tuấn"]
prefixes = ["090", "091", "093", "094", "096", "097", "098", "086"]
r = random.Random(7)
with open(sys.argv[1], "w") as w:
    w.write("external_id,email,phone,name,birthday,tags,score,attr.tier,attr.points\n")
    for i in range(1_000_000):
        f, g, t = r.choice(family), r.choice(given), r.randrange(10)
        tags = "vip;newsletter" if t == 0 else ("newsletter" if t <= 3 else "")
        w.write(f"X{i},user{i}@example.com,{prefixes[i % 8]} {100 + (i // 10000) % 900:03d} {i % 10000:04d},"
                f"{f} Văn {g},{r.randrange(1960, 2006)}-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d},"
                f"{tags},{r.randrange(100)},{r.choice(['member', 'silver', 'gold'])},{r.randrange(5000)}\n")
EOF
POSTMASTER=$(psql "$ADMIN/postgres" -qAtc "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'" \
  | xargs -I{} awk '{print $4}' /proc/{}/stat)
# Clock ticks of the postmaster's children, reaped and live.
ticks() {
  local t
  t=$(awk '{print $16 + $17}' "/proc/$POSTMASTER/stat")
  for c in $(pgrep -P "$POSTMASTER"); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
HZ=$(getconf CLK_TCK)
for round in $(seq 1 "$ROUNDS"); do
  for swell in "${BINARIES[@]}"; do
    db="swell_import_cpu_$$"
    psql "$ADMIN/postgres" -qc "CREATE DATABASE $db"
    before=$(ticks)
    out=$(SWELL_LOG=warn "$swell" bench import-one --db "$ADMIN/$db" --file "$CSV" --mode import)
    sleep 2 # the backends' exit, reaped
    after=$(ticks)
    psql "$ADMIN/postgres" -qc "DROP DATABASE $db"
    secs=$(sed -n 's/.*"secs":\([0-9.]*\).*/\1/p' <<<"$out")
    awk -v r="$round" -v b="$swell" -v s="$secs" -v t=$((after - before)) -v hz="$HZ" \
      'BEGIN { printf "round %s  %-40s %8.0f rows/s  server CPU %6.1f s\n", r, b, 1000000 / s, t / hz }'
  done
done
