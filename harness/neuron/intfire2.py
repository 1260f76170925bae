"""NEURON 9.0.2 reference for tests/fixtures/neuron/intfire2/intfire2.chan.

    bench/.venv/bin/python harness/neuron/intfire2.py

Six IntFire2 cells (taus 20 ms, taum 10 ms): two with bias ib 1.2 and 1.5, which fire on
their own, and four driven by a NetStim every 3 ms (weights 0.3, 0.5, 0.8 and 0.5 with ib
-0.2), and an inhibitory NetStim every 7 ms (weight -0.4) onto cells 1, 3 and 5. Fixed step
0.025 ms, 200 ms. Writes spikes.csv: every spike (cell, time), the NetStims are cells 6 and 7.
"""
from neuron import h

from cells import driven_artificial_cells

h.load_file("stdrun.hoc")
cells = []
for ib in (1.2, 1.5, 0, 0, 0, -0.2):
    c = h.IntFire2(); c.taus = 20; c.taum = 10; c.ib = ib
    cells.append(c)
driven_artificial_cells(cells, [(2, 0.3), (3, 0.5), (4, 0.8), (5, 0.5)],
                        [(1, -0.4), (3, -0.4), (5, -0.4)], "intfire2", "IntFire2")
