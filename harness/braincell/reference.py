"""Run every stdlib channel in braincell 0.2.0 and store the traces as hhc test fixtures.

    bash bench/setup.sh                                   # the venv with braincell (Python 3.12)
    bench/.venv/bin/python harness/braincell/reference.py [NAMES...]

For each channel X, one single-compartment cell is built twice, once in braincell and once as an
hhc model file (`tests/fixtures/braincell/cell_X.chan`):

- the tutorial's spiking core: Na_HH1952 and K_HH1952 (braincell defaults), IL (0.03 mS/cm2,
  -54.387 mV), SodiumFixed E = 50 mV, PotassiumFixed E = -77 mV;
- a CalciumDetailed pool (braincell defaults) when X carries or reads calcium;
- X with braincell's defaults, except a zero or missing g_max, which gets a value that matters;
- V starts at -65 mV with every gate at steady state (braincell's reset_state, hhc's INITIAL);
- 5 uA/cm2 for 100 ms at dt = 0.01 ms, exp_euler, float64; spikes are upward crossings of 0 mV.

braincell's V is written every 10th step to `tests/fixtures/braincell/X.csv`, with its spike
times in the header. `cargo test` compares hhc against these files without Python.
"""
import os
import sys
import time
from pathlib import Path

import brainstate

brainstate.environ.set(precision=64)
import braintools  # noqa: E402
import brainunit as u  # noqa: E402
import braincell  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from translate import Channel, hh_type_classes  # noqa: E402

OUT = Path(os.environ.get("HHC_REF_OUT", Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "braincell"))
DT = float(os.environ.get("HHC_REF_DT", "0.01"))
TSTOP, STIM = 100.0, 5.0
EVERY = max(1, round(0.1 / DT))
CORE = ("Na_HH1952", "K_HH1952", "IL")

# g_max where braincell's default is zero: (value, braincell unit, hhc unit text).
G_MAX_OVERRIDE = {
    "mS/cm2": (1.0, u.mS / u.cm**2),
    "cm/s": (1e-4, u.cm / u.second),
}


def overrides(c):
    """Constructor overrides for channel `c`: a g_max that is not zero."""
    out = {}
    for p in c.params:
        if p.name == "g_max" and p.value == 0.0 and p.text in G_MAX_OVERRIDE:
            out["g_max"] = (G_MAX_OVERRIDE[p.text][0], p.text, G_MAX_OVERRIDE[p.text][1])
    return out


def needs_calcium(c):
    return "ca" in c.ions


def braincell_run(c, extra):
    cls = c.cls
    kwargs = {k: v * unit for k, (v, _, unit) in extra.items()}

    class Cell(braincell.SingleCompartment):
        def __init__(self):
            super().__init__(1, V_th=0.0 * u.mV, V_initializer=braintools.init.Constant(-65.0 * u.mV), solver="exp_euler")
            self.na = braincell.ion.SodiumFixed(1, E=50.0 * u.mV)
            self.na.add(INa=braincell.channel.Na_HH1952(1))
            self.k = braincell.ion.PotassiumFixed(1, E=-77.0 * u.mV)
            self.k.add(IK=braincell.channel.K_HH1952(1))
            self.IL = braincell.channel.IL(1, E=-54.387 * u.mV, g_max=0.03 * (u.mS / u.cm**2))
            if needs_calcium(c):
                self.ca = braincell.ion.CalciumDetailed(1)
            ions = {"na": self.na, "k": self.k, "ca": getattr(self, "ca", None)}
            if None in c.ions:
                self.no = braincell.ion.NonSpecificFixed(1)
            if c.name in CORE:
                return  # X is one of the core channels: the cell is the core alone
            ch = cls(1, **kwargs)
            if not c.ions:
                self.X = ch
            elif len(c.ions) == 1:
                ions[c.ions[0]].add(X=ch)
            else:
                pools = [ions[s] if s is not None else self.no for s in c.ions]
                self.mix = braincell.mix_ions(*pools)
                self.mix.add(X=ch)

    cell = Cell()
    cell.init_state()
    cell.reset_state()
    v0 = float(np.asarray(cell.V.value.to_decimal(u.mV)).reshape(-1)[0])
    stim = STIM * u.uA / u.cm**2

    def step(t):
        with brainstate.environ.context(t=t):
            cell.update(stim)
        return cell.V.value, cell.spike.value

    with brainstate.environ.context(dt=DT * u.ms):
        times = u.math.arange(0.0 * u.ms, TSTOP * u.ms, brainstate.environ.get_dt())
        vs, spikes = brainstate.transform.for_loop(step, times)
    V = np.asarray(vs.to_decimal(u.mV)).reshape(-1)
    S = np.asarray(spikes).reshape(-1)
    return v0, V, np.nonzero(S)[0]


def model_file(c, extra):
    lines = [
        f": {c.name} in the tutorial's spiking core; written by harness/braincell/reference.py",
        "CELL Probe {",
        "    V_th = 0 (mV)",
        "    v_init = -65 (mV)",
        "    ION na { e = 50 (mV) }",
        "    ION k { e = -77 (mV) }",
        "    INSERT Na_HH1952 { }",
        "    INSERT K_HH1952 { }",
        "    INSERT IL { E = -54.387 (mV)  g_max = 0.03 (mS/cm2) }",
    ]
    if needs_calcium(c):
        lines.append("    INSERT CalciumDetailed { }")
    if c.name in CORE:
        return "\n".join(lines + ["}", "SIMULATE {", "    cell = Probe", f"    dt = {DT} (ms)", f"    tstop = {TSTOP:g} (ms)", f"    stimulus = {STIM:g} (uA/cm2)", "}"]) + "\n"
    args = "  ".join(f"{k} = {v!r} ({text})" for k, (v, text, _) in extra.items())
    lines.append(f"    INSERT {c.name} {{ {args} }}" if args else f"    INSERT {c.name} {{ }}")
    lines += [
        "}",
        "SIMULATE {",
        "    cell = Probe",
        f"    dt = {DT} (ms)",
        f"    tstop = {TSTOP:g} (ms)",
        f"    stimulus = {STIM:g} (uA/cm2)",
        "}",
    ]
    return "\n".join(lines) + "\n"


def main():
    names = sys.argv[1:]
    OUT.mkdir(parents=True, exist_ok=True)
    classes = [k for k in hh_type_classes() if not names or k.__name__ in names]
    for k in classes:
        c = Channel(k)
        extra = overrides(c)
        t0 = time.time()
        try:
            v0, V, spikes = braincell_run(c, extra)
        except Exception as e:  # one channel braincell cannot run must not stop the rest
            print(f"{c.name}: braincell failed: {type(e).__name__}: {str(e)[:200]}", flush=True)
            continue
        (OUT / f"cell_{c.name}.chan").write_text(model_file(c, extra))
        times = [(i + 1) * DT for i in spikes]
        with open(OUT / f"{c.name}.csv", "w") as f:
            f.write(f"# braincell 0.2.0 exp_euler f64; spikes (step-end ms): {' '.join(f'{t:.2f}' for t in times)}\n")
            f.write("t_ms,V_mV\n")
            f.write(f"0,{v0:.6g}\n")
            for i in range(EVERY - 1, len(V), EVERY):
                f.write(f"{(i + 1) * DT:.2f},{V[i]:.6g}\n")
        print(f"{c.name}: {len(spikes)} spikes, {time.time() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
