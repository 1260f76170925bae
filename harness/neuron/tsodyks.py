"""NEURON 9.0.2 reference for tests/fixtures/neuron/tsodyks/tsodyks.chan: Tsodyks-Markram
synapses (tmgsyn.mod, unchanged from PyNN 0.12.3's NEURON mechanisms, fetched by
harness/fetch_mod_corpus.sh and never committed), whose NET_RECEIVE keeps y, z, u and the last
event's time per connection (its weight vector) and sets them in its own INITIAL.

    bench/.venv/bin/python harness/neuron/tsodyks.py     (needs a C compiler, for nrnivmodl)

One hh soma (cells.py, 6.3 degC) with a tmgsyn at soma(0.5) (e 0 mV, tau 3 ms, tau_rec 100 ms,
tau_facil 100 ms, U 0.3) driven by two NetStims through two NetCons (delay 1 ms): A every 5 ms
from 5 ms (8 spikes, weight 0.004 uS) and B every 3 ms from 7 ms (10 spikes, 0.002 uS).
Fixed step 0.025 ms, 80 ms. Writes v.csv: V at soma(0.5) and the synapse's g, every step, and
spikes.csv (the soma's threshold crossings at 0 mV and the two sources').
"""
from pathlib import Path

from neuron import h

from cells import hh_soma, run_and_write_v, textbook_run, write_spikes
from nrnmech import load_mods

root = Path(__file__).resolve().parents[2]
fixture = root / "tests" / "fixtures" / "neuron" / "tsodyks"
load_mods([root / ".tools" / "mod_corpus" / "pynn" / "neuron_nmodl" / "tmgsyn.mod"],
          prefix="hhc-tsodyks-")
h.load_file("stdrun.hoc")
textbook_run()
soma = hh_soma()
syn = h.tmgsyn(soma(0.5))
syn.e = 0; syn.tau = 3; syn.tau_rec = 100; syn.tau_facil = 100; syn.U = 0.3
spikes, keep = [], []
out = h.NetCon(soma(0.5)._ref_v, None, sec=soma); out.threshold = 0
tv = h.Vector(); out.record(tv); spikes.append((0, tv))
for k, (start, interval, number, w) in enumerate(((5, 5, 8, 0.004), (7, 3, 10, 0.002))):
    s = h.NetStim(); s.start = start; s.interval = interval; s.number = number; s.noise = 0
    nc = h.NetCon(s, syn); nc.delay = 1; nc.weight[0] = w
    tv = h.Vector(); nc.record(tv); spikes.append((k + 1, tv))
    keep.append((s, nc))
run_and_write_v([soma(0.5), syn._ref_g], ["v", "g"], 80, fixture / "v.csv")
rows = write_spikes(spikes, fixture / "spikes.csv")
print(len(rows), "spikes:", [(i, round(t, 3)) for t, i in rows if i == 0])
