#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU (H100/H200, CUDA 12+ driver, no network needed).
# Builds hhc if no binary is given, runs the tutorial on GPU and CPU and compares them, then
# times populations of 1e5, 1e6 and 1e7 cells in f32 and f64, per-step against fused kernels.
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
echo "== CPU on this machine for scale: 1e6 cells, 10 ms, all cores, f64 =="
"$BIN" run examples/hh.chan --n 1000000 --tstop 10 --no-record | grep wall
