"""NEURON 9.0.2 reference for tests/fixtures/neuron/stdp/stdp.chan: a plastic synapse
(tests/fixtures/neuron/stdp/StdpSyn.mod, compiled by nrnivmodl) whose NET_RECEIVE keeps a weight
change and a last spike time per connection, depresses a connection at its spikes and, at each
spike of the cell (a WATCH), potentiates every connection with FOR_NETCONS.

    /path/to/neuron-venv/bin/python harness/neuron/stdp.py     (needs a C compiler, for nrnivmodl)

One hh soma (cells.py, 6.3 degC) with the StdpSyn (tau 2 ms, wmax 0.01 uS) and an ExpSyn (tau
2 ms) at soma(0.5). Three trains reach the StdpSyn through one NetCon each (delay 1 ms): a at
10, 55 ms (0.002 uS), b at 25, 65, 90 ms (0.003 uS), c at 15, 40, 80, 95 ms (0.001 uS); a
fourth, at 20, 60, 85 ms, reaches the ExpSyn (0.05 uS). Each train is its NetCon's events
(NetCon.event at the spike time plus the delay), as hhc's spike sources deliver them. Fixed step
0.025 ms, 120 ms. Writes v.csv (V at soma(0.5) and the StdpSyn's g, every step) and spikes.csv
(the soma's threshold crossings at 0 mV as cell 0, the trains as cells 1 to 4).
"""
from pathlib import Path

from neuron import h

from cells import deliver_at_init, hh_soma, run_and_write_v, textbook_run, write_spikes
from nrnmech import load_mods

fixture = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "stdp"
load_mods([fixture / "StdpSyn.mod"], prefix="hhc-stdp-")
h.load_file("stdrun.hoc")
textbook_run()
soma = hh_soma()
plastic = h.StdpSyn(soma(0.5)); plastic.tau = 2; plastic.wmax = 0.01
drive = h.ExpSyn(soma(0.5)); drive.tau = 2
trains = [
    (plastic, (10, 55), 0.002),
    (plastic, (25, 65, 90), 0.003),
    (plastic, (15, 40, 80, 95), 0.001),
    (drive, (20, 60, 85), 0.05),
]
netcons = []
for target, times, w in trains:
    nc = h.NetCon(None, target); nc.delay = 1; nc.weight[0] = w
    netcons.append((nc, times))

handler = deliver_at_init(netcons)
out = h.NetCon(soma(0.5)._ref_v, None, sec=soma); out.threshold = 0
tv = h.Vector(); out.record(tv)
run_and_write_v([soma(0.5), plastic._ref_g], ["v", "g"], 120, fixture / "v.csv")
sources = [(k + 1, h.Vector(times)) for k, (_, times, _) in enumerate(trains)]
rows = write_spikes([(0, tv)] + sources, fixture / "spikes.csv")
print(len(rows), "spikes:", [(i, round(t, 3)) for t, i in rows if i == 0])
