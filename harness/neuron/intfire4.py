"""NEURON 9.0.2 reference for tests/fixtures/neuron/intfire4/intfire4.chan.

    bench/.venv/bin/python harness/neuron/intfire4.py

Six IntFire4 cells (NEURON's defaults: taue 5, taui1 10, taui2 20, taum 50 ms; cell 5 with
taue 3, taui1 8, taui2 15, taum 30 ms): five driven by a NetStim every 3 ms (weights 0.2, 0.3,
0.5, 0.8 and 0.5), and an inhibitory NetStim every 7 ms (weight -0.6) onto cells 1, 3 and 5;
cell 0 gets only inhibition. Fixed step 0.025 ms, 200 ms. Writes spikes.csv: every spike (cell, time), the NetStims are cells 6 and 7.
"""
from neuron import h

from cells import driven_artificial_cells

h.load_file("stdrun.hoc")
cells = []
for k in range(6):
    c = h.IntFire4()
    if k == 5:
        c.taue = 3; c.taui1 = 8; c.taui2 = 15; c.taum = 30
    cells.append(c)
driven_artificial_cells(cells, [(1, 0.2), (2, 0.3), (3, 0.5), (4, 0.8), (5, 0.5)],
                        [(0, -0.6), (1, -0.6), (3, -0.6), (5, -0.6)], "intfire4", "IntFire4")
