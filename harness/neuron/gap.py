"""NEURON 9.0.2 reference for tests/fixtures/neuron/gap/gap.chan: gap junctions.

    /path/to/neuron-venv/bin/python harness/neuron/gap.py     (needs a C compiler, for nrnivmodl)

8 hh somata (cells.py, 6.3 degC; IClamps of drive.csv's amplitudes from 5 ms for 150 ms) joined
by the junctions of gaps.csv, and 3 ball-and-stick cells (hh soma, 5-segment passive dendrite)
whose dend(0.9) is joined to the soma of exc cells 1 and 4 (0.004 uS) and whose ExpSyn at
soma(0.5) (tau 2 ms) receives every exc cell's spikes (0.003 uS, delay 2 ms). Each junction is
two instances of hhc's stdlib Gap (stdlib/Gap.chan, compiled by nrnivmodl as Gap.mod), one per
side, each with the junction's g, and each vgap fed from the other side's V by
ParallelContext's source_var/target_var (NEURON's transfer of V before each step's currents).
Fixed step 0.025 ms, 200 ms. Writes v.csv (V at exc cells 0 and 6 and at inh cell 2's soma and dend(0.9), every step) and
spikes.csv (threshold crossings at 10 mV; exc cells 0-7, inh cells 8-10).
"""
import csv
import shutil
import tempfile
from pathlib import Path

from neuron import h

from cells import ballstick, hh_soma, run_and_write_v, textbook_run, write_spikes
from nrnmech import load_mods

root = Path(__file__).resolve().parents[2]
fixture = root / "tests" / "fixtures" / "neuron" / "gap"
source = Path(tempfile.mkdtemp(prefix="hhc-gap-src-")) / "Gap.mod"
shutil.copy(root / "stdlib" / "Gap.chan", source)
load_mods([source], prefix="hhc-gap-")
shutil.rmtree(source.parent)
h.load_file("stdrun.hoc")
textbook_run()
pc = h.ParallelContext()

with open(fixture / "drive.csv") as f:
    amps = [float(r["drive.amp"]) for r in csv.DictReader(f)]
exc = [hh_soma(f"exc{i}") for i in range(8)]
clamps = []
for soma, amp in zip(exc, amps):
    c = h.IClamp(soma(0.5)); c.delay = 5; c.dur = 150; c.amp = amp
    clamps.append(c)
inh = [ballstick(f"inh{i}", nseg=5) for i in range(3)]
syns = []
for soma, _ in inh:
    s = h.ExpSyn(soma(0.5)); s.tau = 2
    syns.append(s)

# The junctions: (segment a, segment b, g).
with open(fixture / "gaps.csv") as f:
    rows = [r for r in csv.reader(f) if r and not r[0].startswith("#") and r[0] != "pre"]
junctions = [(exc[int(a)](0.5), exc[int(b)](0.5), float(g)) for a, b, g in rows]
junctions += [(exc[a](0.5), inh[b][1](0.9), 0.004) for a, b in ((1, 0), (4, 2))]
# One source id per site (a segment's V), shared by every junction there.
sources = {}
def source_id(seg):
    key = (seg.sec.name(), seg.x)
    if key not in sources:
        sources[key] = len(sources)
        pc.source_var(seg._ref_v, sources[key], sec=seg.sec)
    return sources[key]
gaps = []
for a, b, g in junctions:
    for here, there in ((a, b), (b, a)):
        gap = h.Gap(here); gap.g = g
        pc.target_var(gap, gap._ref_vgap, source_id(there))
        gaps.append(gap)
pc.setup_transfer()

netcons, spikes = [], []
for i, soma in enumerate(exc):
    for s in syns:
        nc = h.NetCon(soma(0.5)._ref_v, s, sec=soma); nc.threshold = 10; nc.delay = 2
        nc.weight[0] = 0.003
        netcons.append(nc)
for i, soma in enumerate([s for s in exc] + [s for s, _ in inh]):
    nc = h.NetCon(soma(0.5)._ref_v, None, sec=soma); nc.threshold = 10
    tv = h.Vector(); nc.record(tv)
    netcons.append(nc); spikes.append((i, tv))

sites = [exc[0](0.5), exc[6](0.5), inh[2][0](0.5), inh[2][1](0.9)]
columns = ["exc0_soma", "exc6_soma", "inh2_soma", "inh2_dend"]
run_and_write_v(sites, columns, 200, fixture / "v.csv")
rows = write_spikes(spikes, fixture / "spikes.csv")
print(len(rows), "spikes;", {k: sum(1 for _, j in rows if j == k) for k in range(11)})
