"""NEURON 9.0.2 references for tests/fixtures/neuron/vclamp/*.chan.

    bench/.venv/bin/python harness/neuron/vclamp.py

A ball-and-stick cell (hh soma, passive 11-compartment dendrite) whose soma is clamped by
NEURON's built-in two-electrode VClamp: -65 mV for 5 ms, -20 mV for 10 ms, -80 mV for 10 ms,
then off. Fixed step 0.025 ms, 40 ms. Two amplifiers:
  vclamp.csv            VClamp's defaults (gain 1e5, rstim 1 megohm, tau1 0.001 ms, tau2 0, fac 0);
  vclamp_amplifier.csv  a slow, weak one (gain 300, rstim 5 megohm, tau1 0.05 ms, tau2 0.1 ms,
                        fac 0.4), whose every term matters.
Each writes V at soma(0.5) and dend(1) and the clamp's current i (nA), every step.
"""
from pathlib import Path

from neuron import h

from cells import ballstick, run_and_write_v, textbook_run

h.load_file("stdrun.hoc")
out = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "neuron" / "vclamp"
for name, amplifier in [
    ("vclamp.csv", {}),
    ("vclamp_amplifier.csv", {"gain": 300, "rstim": 5, "tau1": 0.05, "tau2": 0.1, "fac": 0.4}),
]:
    soma, dend = ballstick()
    clamp = h.VClamp(soma(0.5))
    for k, (dur, amp) in enumerate([(5, -65), (10, -20), (10, -80)]):
        clamp.dur[k] = dur
        clamp.amp[k] = amp
    for key, value in amplifier.items():
        setattr(clamp, key, value)
    textbook_run()
    t, rec = run_and_write_v([soma(0.5), dend(1), clamp._ref_i], ["soma", "dend1", "i_nA"], 40,
                             out / name)
    print(name, "soma V at 10, 20, 30 ms:", rec[0][400], rec[0][800], rec[0][1200],
          "i at 10 ms:", rec[2][400])
    del clamp, soma, dend
