#!/usr/bin/env python3
"""The cost of synapses and spike delivery: a random network of one-compartment HH cells,
beside the same population without synapses.

`--n` cells (80 % E, 20 % I; hhc's `bench/hh_classic.chan` at 6.3 degC), driven by an IClamp
(0.1 nA on E cells, 0.04 nA on I cells). With
synapses: two Exp2Syn per cell, 100 E and 25 I inputs per cell (`rule = indegree`), delays of
1 to 2 ms. Without: the same cells and drive, no point processes and no connections. Between
them, the synapses placed and no connections (the synapses' own cost, no events). All run
`--tstop` ms at dt 0.025 ms on 1 and 2 threads; the table gives run times (compilation
excluded), cell-steps per second, events delivered, and the overhead of the network.

With `--drive varied`, each cell's drive is its own (an IClamp point whose amplitude is drawn,
seeded, from 0.5 to 1.5 times its population's, per cell from a CSV column): the cells fire at
their own times, as in an asynchronous network, instead of in one volley (the default, where
every cell gets the same drive and 1.25e7 events are in flight at once).

Usage: python3 bench/network_cost.py [--n 100000] [--tstop 100] [--drive same|varied]
"""
import argparse, os, random, re, subprocess, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HHC = os.path.join(ROOT, "target", "release", "hhc")


def model(n, tstop, synapses, connections=None, varied=False):
    """The network with (or without) its synapses; `connections` False keeps the synapses
    and leaves out the connections, which splits the cost between the synapses' own states and
    the events."""
    connections = synapses if connections is None else connections
    ne, ni = n * 4 // 5, n - n * 4 // 5
    points = """
    POINT esyn = Exp2Syn AT soma(0.5) { tau1 = 0.5 (ms)  tau2 = 3 (ms)  e = 0 (mV) }
    POINT isyn = Exp2Syn AT soma(0.5) { tau1 = 1 (ms)  tau2 = 8 (ms)  e = -80 (mV) }""" if synapses else ""
    connect = """
    CONNECT exc -> exc AT esyn { rule = indegree(80)  seed = 1  weight = 0.0001 (uS)  delay = 1.5 (ms) }
    CONNECT exc -> inh AT esyn { rule = indegree(80)  seed = 2  weight = 0.0002 (uS)  delay = 1 (ms) }
    CONNECT inh -> exc AT isyn { rule = indegree(20)  seed = 3  weight = 0.0005 (uS)  delay = 2 (ms) }
    CONNECT inh -> inh AT isyn { rule = indegree(20)  seed = 4  weight = 0.0005 (uS)  delay = 1 (ms) }
    CONNECT exc -> exc AT esyn { rule = indegree(20)  seed = 5  weight = 0.0001 (uS)  delay = 1.2 (ms) }
    CONNECT exc -> inh AT esyn { rule = indegree(20)  seed = 6  weight = 0.0002 (uS)  delay = 1.7 (ms) }
    CONNECT inh -> exc AT isyn { rule = indegree(5)  seed = 7  weight = 0.0005 (uS)  delay = 1.1 (ms) }
    CONNECT inh -> inh AT isyn { rule = indegree(5)  seed = 8  weight = 0.0005 (uS)  delay = 1.3 (ms) }""" if connections else ""
    if varied:
        drive = f"""
    POINT drive = IClamp AT soma(0.5) {{ del = 5 (ms)  dur = {tstop} (ms)  amp = 0.1 (nA) }}"""
        exc, inh = "values = exc_drive", "values = inh_drive"
    else:
        drive = ""
        exc = f"stimulus = iclamp(0.1 (nA), 5 (ms), {tstop} (ms), soma(0.5))"
        inh = f"stimulus = iclamp(0.04 (nA), 5 (ms), {tstop} (ms), soma(0.5))"
    return f"""
CELL P {{
    v_init = -65 (mV)
    V_th = 10 (mV)
    ION na {{ e = 50 (mV) }}
    ION k {{ e = -77 (mV) }}
    SECTION soma {{ L = 20 (um)  diam = 20 (um) }}
    INSERT hh_classic {{ }}{drive}{points}
}}
NETWORK {{
    POPULATION exc = P {{ count = {ne}  {exc} }}
    POPULATION inh = P {{ count = {ni}  {inh} }}{connect}
}}
SIMULATE {{ dt = 0.025 (ms)  tstop = {tstop} (ms)  celsius = 6.3 (degC) }}
"""


def run(path, threads):
    out = subprocess.run([HHC, "run", path, "--no-record", "--threads", str(threads)],
                         capture_output=True, text=True, check=True).stdout
    run_s = float(re.search(r"run ([0-9.]+) s\)", out).group(1))
    spikes = int(re.search(r"spikes: (\d+)", out).group(1))
    events = int(re.search(r"(\d+) events delivered", out).group(1))
    return run_s, spikes, events


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--tstop", type=float, default=100)
    ap.add_argument("--drive", choices=["same", "varied"], default="same")
    a = ap.parse_args()
    varied = a.drive == "varied"
    subprocess.run(["cargo", "build", "--release", "-p", "hhc"], cwd=ROOT, check=True)
    steps = int(round(a.tstop / 0.025))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(HERE, "hh_classic.chan")) as f:
            open(os.path.join(folder, "hh_classic.chan"), "w").write(f.read())
        if varied:
            rng = random.Random(1)
            ne = a.n * 4 // 5
            for name, count, amp in (("exc_drive", ne, 0.1), ("inh_drive", a.n - ne, 0.04)):
                with open(os.path.join(folder, f"{name}.csv"), "w") as f:
                    f.write("drive.amp\n")
                    f.writelines(f"{amp * rng.uniform(0.5, 1.5):.6f}\n" for _ in range(count))
        for kind, synapses, connections in (("no", False, False),
                                            ("placed, no connections", True, False),
                                            ("yes", True, True)):
            path = os.path.join(folder, f"net_{synapses}_{connections}.chan")
            open(path, "w").write(model(a.n, a.tstop, synapses, connections, varied))
            for threads in (1, 2):
                rows.append((kind, threads) + run(path, threads))
    print(f"{a.n} cells, {steps} steps of 0.025 ms, drive: {a.drive}")
    print("| synapses | threads | run (s) | cell-steps/s | spikes | events | network ÷ no synapses |")
    print("|---|---|---|---|---|---|---|")
    base = {t: r for s, t, r, _, _ in rows if s == "no"}
    for s, t, r, spikes, events in rows:
        print(f"| {s} | {t} | {r:.2f} | {a.n * steps / r:.3e} | {spikes} | {events} | {r / base[t]:.2f} |")


if __name__ == "__main__":
    main()
