#!/usr/bin/env bash
# How well can anything scale from 1 to 2 threads on this machine? Runs a register-only scalar
# loop (no memory, no sharing) alone, then two copies at once, and reports the pair's aggregate
# throughput over one copy's: the host's own 2-vs-1 ceiling. Then hhc's 2-thread/1-thread ratio
# on 1e5 classic-HH cells (bench/classic_pop.chan, 20 ms), alternating, in the same run, so the two can be compared.
# Usage: bench/host_scaling.sh [rounds]   (needs gcc and a release build of hhc)
set -euo pipefail
ROUNDS=${1:-3}
HHC=${HHC:-target/release/hhc}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/spin.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    double a = 1.0;
    for (long k = 0; k < n; k++) a = a * 0.9999999 + 1e-9;
    printf("%g\n", a);
    return 0;
}
C
gcc -O2 -o "$TMP/spin" "$TMP/spin.c"
secs() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
run_s() { "$HHC" run bench/classic_pop.chan --n 100000 --tstop 20 --no-record --threads "$1" | sed -n 's/.*run \([0-9.]*\) s).*/\1/p'; }
printf "%-6s %-22s %-22s\n" round "host: 2 copies / 1" "hhc: 2 threads / 1"
for r in $(seq "$ROUNDS"); do
    alone=$(secs "$TMP/spin" 600000000)
    t0=$(date +%s.%N)
    "$TMP/spin" 600000000 > /dev/null & "$TMP/spin" 600000000 > /dev/null; wait
    pair=$(echo "$(date +%s.%N) - $t0" | bc -l)
    one=$(run_s 1); two=$(run_s 2)
    printf "%-6s %-22.2f %-22.2f\n" "$r" "$(echo "2 * $alone / $pair" | bc -l)" "$(echo "$one / $two" | bc -l)"
done
