#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU (H100/H200, CUDA 12+ driver, no network needed).
# Builds hhc if no binary is given, runs the tutorial on GPU and CPU and compares them, then
# times populations of 1e5, 1e6 and 1e7 cells in f32 and f64, per-step against fused kernels;
# then the same for the branched morphology (GPU whole-cell kernel against the CPU's solvers).
# Usage: gpu/check.sh [path/to/hhc] [outdir]
set -uo pipefail
BIN=${1:-target/release/hhc}
OUT=${2:-${OUT:-gpu-out}}
mkdir -p "$OUT"
if [ ! -x "$BIN" ]; then cargo build --release -p hhc && BIN=target/release/hhc; fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

echo "== tutorial: CPU vs GPU =="
"$BIN" run examples/hh.chan --csv "$OUT/cpu.csv" --spikes "$OUT/cpu_spikes.csv" | tail -2
for p in f64 f32; do
    "$BIN" run examples/hh.chan --backend gpu --precision $p --csv "$OUT/gpu_$p.csv" --spikes "$OUT/gpu_spikes_$p.csv" | grep -E "backend|spike times|spikes:"
done
"$BIN" run examples/hh.chan --precision f32 --csv "$OUT/cpu_f32.csv" --spikes "$OUT/cpu_spikes_f32.csv" | grep -E "spike times"
python3 - "$OUT" <<'PY' || echo "(python3 missing: compare by hand)"
import sys, csv
out = sys.argv[1]
def col(path, i):
    with open(path) as f:
        r = csv.reader(f); next(r)
        return [float(row[i]) for row in r]
cpu = col(f"{out}/cpu.csv", 1); gpu = col(f"{out}/gpu_f64.csv", 1)
print(f"f64 rows cpu {len(cpu)} gpu {len(gpu)}; max |V_gpu - V_cpu| = {max(abs(a-b) for a,b in zip(cpu,gpu)):.3e} mV")
c32 = col(f"{out}/cpu_f32.csv", 1); g32 = col(f"{out}/gpu_f32.csv", 1)
d = [abs(a-b) for a,b in zip(c32,g32)]
print(f"f32 (GPU fast math vs CPU f32): max |dV| = {max(d):.3e} mV, before the first spike {max(d[:380]):.3e} mV")
for p in ["f64", "f32"]:
    a = open(f"{out}/{'cpu_spikes.csv' if p=='f64' else 'cpu_spikes_f32.csv'}").read().split()[1:]
    b = open(f"{out}/gpu_spikes_{p}.csv").read().split()[1:]
    print(f"{p}: spikes cpu {a} gpu {b} -> {'SAME' if a == b else 'DIFFERENT'}")
PY

echo "== f-I population: CPU vs GPU spike counts =="
"$BIN" run examples/fi_curve.chan --tstop 100 --spikes "$OUT/fi_cpu.csv" | grep "spikes:"
"$BIN" run examples/fi_curve.chan --tstop 100 --backend gpu --spikes "$OUT/fi_gpu.csv" | grep "spikes:"
cmp -s "$OUT/fi_cpu.csv" "$OUT/fi_gpu.csv" && echo "f-I spike lists identical" || echo "f-I spike lists differ"

echo "== throughput (compartment-steps/s), tutorial cell, 100 ms at dt 0.01 ms unless noted =="
printf "%-6s %-10s %-10s %-14s\n" prec cells kernel steps/s
for p in f32 f64; do
    for n in 100000 1000000 10000000; do
        tstop=100
        for k in 1 64; do
            kind=$([ $k -eq 1 ] && echo per-step || echo fused64)
            rate=$("$BIN" run examples/hh.chan --backend gpu --precision $p --n $n --tstop $tstop --no-record --steps-per-call $k | sed -n 's/.*s), \(.*\) compartment-steps.*/\1/p')
            printf "%-6s %-10s %-10s %-14s\n" $p $n $kind "$rate"
        done
    done
done
echo "== morphology (examples/branched.chan, 35 compartments): CPU chunked solver vs GPU whole-cell kernel =="
"$BIN" run examples/branched.chan --csv "$OUT/br_cpu.csv" --spikes "$OUT/br_cpu_spikes.csv" | grep -E "spike times|spikes:"
"$BIN" run examples/branched.chan --fused-cable --precision f32 --csv "$OUT/br_cpu_f32.csv" --spikes "$OUT/br_cpu_spikes_f32.csv" | grep -E "spike times"
for p in f64 f32; do
    "$BIN" run examples/branched.chan --backend gpu --precision $p --csv "$OUT/br_gpu_$p.csv" --spikes "$OUT/br_gpu_spikes_$p.csv" | grep -E "backend|spike times|spikes:|error"
done
python3 - "$OUT" <<'PY' || echo "(python3 missing: compare by hand)"
import sys, csv
out = sys.argv[1]
def rows(path):
    with open(path) as f:
        r = csv.reader(f); next(r)
        return [[float(x) for x in row[1:]] for row in r]
for p, cpu in [("f64", "br_cpu.csv"), ("f32", "br_cpu_f32.csv")]:
    a, b = rows(f"{out}/{cpu}"), rows(f"{out}/br_gpu_{p}.csv")
    d = max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))
    sa = open(f"{out}/{cpu.replace('.csv', '').replace('br_cpu', 'br_cpu_spikes')}.csv").read().split()[1:]
    sb = open(f"{out}/br_gpu_spikes_{p}.csv").read().split()[1:]
    print(f"branched {p}: rows {len(a)}/{len(b)}, max |V_gpu - V_cpu| over every probe = {d:.3e} mV; spikes {'SAME' if sa == sb else 'DIFFERENT'} ({sa} vs {sb})")
PY
echo "== morphology throughput (compartment-steps/s, wall incl. compile), branched cell, 100 ms at dt 0.025 ms =="
printf "%-10s %-6s %-8s %-22s %-14s\n" system prec cells kernel rate
for n in 1000 10000 100000; do
    for p in f64 f32; do
        for k in 1 64; do
            kind=$([ $k -eq 1 ] && echo "whole-cell, per-step" || echo "whole-cell, 64 steps")
            rate=$("$BIN" run examples/branched.chan --backend gpu --precision $p --n $n --no-record --steps-per-call $k | sed -n 's/.*s), \(.*\) compartment-steps.*/\1/p')
            printf "%-10s %-6s %-8s %-22s %-14s\n" gpu $p $n "$kind" "$rate"
        done
    done
    if [ $n -le 10000 ]; then
        rate=$("$BIN" run examples/branched.chan --n $n --no-record | sed -n 's/.*s), \(.*\) compartment-steps.*/\1/p')
        printf "%-10s %-6s %-8s %-22s %-14s\n" "cpu-all" f64 $n "chunked" "$rate"
        rate=$("$BIN" run examples/branched.chan --n $n --no-record --fused-cable | sed -n 's/.*s), \(.*\) compartment-steps.*/\1/p')
        printf "%-10s %-6s %-8s %-22s %-14s\n" "cpu-all" f64 $n "whole-cell" "$rate"
    fi
done
echo "== CPU on this machine for scale: 1e6 cells, 10 ms, all cores, f64 =="
"$BIN" run examples/hh.chan --n 1000000 --tstop 10 --no-record | grep wall
