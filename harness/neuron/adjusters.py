"""NEURON 9.0.2 reference for tests/fixtures/neuron/adjusters/adjusters.chan: PyNN's weight
adjusters (a mechanism whose POINTER wsyn is a NetCon's weight), as PyNN wires them with
dendritic_delay_fraction 0.

    bash harness/fetch_mod_corpus.sh      (PyNN's tsodyksmarkram.mod and stdwa_songabbott.mod)
    /path/to/neuron-venv/bin/python harness/neuron/adjusters.py     (needs a C compiler)

One hh soma (cells.py, 6.3 degC) with an ExpSyn (tau 2 ms) at soma(0.5) and an IClamp of
0.3 nA at 30-34 ms, 70-74 ms and 110-114 ms (the cell fires then). Train a (10, 13, 16, 19,
22, 90, 93 ms) reaches the ExpSyn through a NetCon of weight 0.004 uS whose weight a
TsodyksMarkramWA (U 0.4, tau_rec 80 ms, tau_facil 0, tau_syn 2 ms) adjusts; train b (25, 35,
65, 76, 100, 105, 116 ms) through one of weight 0.003 uS adjusted by a StdwaSA (wmax 0.01,
aLTP 0.0005, aLTD 0.0006, tauLTP 20 ms, tauLTD 20 ms, allow_update_on_post 0); train c (40,
80 ms) through a plain NetCon of weight 0.002 uS. Delays 1 ms. Each adjuster gets its
connection's presynaptic events 1e-9 ms earlier (same weight), and the StdwaSA the soma's
spikes too (NetCon threshold 10 mV, delay 0, weight -1); `setpointer` makes each adjuster's
wsyn the synapse NetCon's weight. Each train is its NetCons' events (NetCon.event at the spike time plus the delay), as
hhc's spike sources deliver them. Fixed step 0.025 ms, 130 ms. Writes v.csv (V and the
ExpSyn's g, every step) and spikes.csv (the soma's crossings of 10 mV as cell 0, the trains
as cells 1 to 3).
"""
from pathlib import Path

from neuron import h

from cells import deliver_at_init, hh_soma, run_and_write_v, textbook_run, write_spikes
from nrnmech import load_mods

root = Path(__file__).resolve().parents[2]
fixture = root / "tests" / "fixtures" / "neuron" / "adjusters"
pynn = root / ".tools" / "mod_corpus" / "pynn" / "neuron_nmodl"
load_mods([pynn / "tsodyksmarkram.mod", pynn / "stdwa_songabbott.mod"], prefix="hhc-adjusters-")
h.load_file("stdrun.hoc")
textbook_run()
soma = hh_soma()
syn = h.ExpSyn(soma(0.5)); syn.tau = 2
clamps = []
for start in (30, 70, 110):
    c = h.IClamp(soma(0.5)); c.delay = start; c.dur = 4; c.amp = 0.3
    clamps.append(c)

tm = h.TsodyksMarkramWA(soma(0.5))
tm.U = 0.4; tm.tau_rec = 80; tm.tau_facil = 0; tm.tau_syn = 2
sa = h.StdwaSA(soma(0.5))
sa.wmax = 0.01; sa.aLTP = 0.0005; sa.aLTD = 0.0006; sa.tauLTP = 20; sa.tauLTD = 20
sa.allow_update_on_post = 0
trains = [
    ((10, 13, 16, 19, 22, 90, 93), 0.004, tm),
    ((25, 35, 65, 76, 100, 105, 116), 0.003, sa),
    ((40, 80), 0.002, None),
]
events, keep = [], []
for times, w, adjuster in trains:
    nc = h.NetCon(None, syn); nc.delay = 1; nc.weight[0] = w
    events.append((nc, times))
    keep.append(nc)
    if adjuster is not None:
        pre = h.NetCon(None, adjuster); pre.delay = 1 - 1e-9; pre.weight[0] = w
        events.append((pre, times))
        keep.append(pre)
        if adjuster is sa:  # PyNN's STDP mechanisms see the cell's spikes too
            post = h.NetCon(soma(0.5)._ref_v, adjuster, sec=soma)
            post.threshold = 10; post.delay = 0; post.weight[0] = -1
            keep.append(post)
        h.setpointer(nc._ref_weight[0], "wsyn", adjuster)

handler = deliver_at_init(events)
out = h.NetCon(soma(0.5)._ref_v, None, sec=soma); out.threshold = 10
tv = h.Vector(); out.record(tv)
run_and_write_v([soma(0.5), syn._ref_g], ["v", "g"], 130, fixture / "v.csv")
sources = [(k + 1, h.Vector(times)) for k, (times, _, _) in enumerate(trains)]
rows = write_spikes([(0, tv)] + sources, fixture / "spikes.csv")
print(len(rows), "spikes:", [(i, round(t, 3)) for t, i in rows if i == 0])
print("final weights:", [nc.weight[0] for nc, _ in events])
