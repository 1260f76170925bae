"""hhc: compile NMODL ion channels and simulate cells and networks, from Python.

A first session::

    import hhc
    model = hhc.load("examples/hh.chan")          # a .chan model file
    result = model.run(tstop=100.0)               # ms; compiled to native code, no C compiler
    result.t, result.v                            # numpy: times (ms), V (mV) per trace
    result.spike_times, result.spike_cells        # numpy: every spike

    model.set("IL", "g_max", 0.5)                 # a parameter on every cell, in its own unit
    model.set_per_cell("IL", "g_max", np.linspace(0.1, 1, 10_000))  # a sweep: one cell each
    counts = model.run(record=False).spike_counts

Models come from files (`load`) or source text (`from_source`), in hhc's model language
(CELL, SECTION, INSERT, POINT, NETWORK, SIMULATE; see the README). Mechanisms are found beside
the model (`NAME.chan` or NEURON's `NAME.mod`) and then in the stdlib (`stdlib()`).

Errors are exceptions that carry hhc's rendered diagnostic (file:line:col, the source line,
a hint): `ModelError` for a model with errors, `UsageError` for a bad request, and
`SimulationError` for a run that failed part way; Ctrl-C raises `Interrupted` (a
`KeyboardInterrupt`). The last two hold what was computed before in `.result`.

Units: times in ms, V in mV, parameters in the unit their mechanism declares
(`Model.parameters()` lists them).

Under MPI (the package built with `--features mpi`, the script started by `mpirun -np K`), a
network's cells are shared by the K processes: every process calls `run` alike, gets the
whole result (the same bits as one process), and `process()` gives `(rank, K)` so that rank 0
alone writes files.
"""
import atexit
import warnings as _warnings
from ._hhc import (
    HhcError,
    Interrupted,
    Model,
    ModelError,
    Result,
    SimulationError,
    UsageError,
    _finalize,
    built_with_mpi,
    process,
    stdlib,
)
from . import build

__all__ = [
    "HhcError",
    "Interrupted",
    "Model",
    "ModelError",
    "Result",
    "SimulationError",
    "UsageError",
    "build",
    "built_with_mpi",
    "from_source",
    "load",
    "process",
    "stdlib",
]

# MPI, when a run started it, ends with the interpreter.
atexit.register(_finalize)


def _warned(model):
    """The model, after passing what its files warned of to `warnings.warn`."""
    if model.warnings:
        _warnings.warn(model.warnings, UserWarning, stacklevel=3)
    return model


def load(path):
    """Loads a model file (`.chan`); its mechanisms are found beside it, then in the stdlib.
    What its files warn of (a `.mod` file's units that disagree with its numbers) is a
    `UserWarning`, and stays in `Model.warnings`."""
    return _warned(Model.load(str(path)))


def from_source(source, directory=None, name="<source>.chan"):
    """A model from source text in hhc's model language, read as if it were the file `name`
    in `directory` (default: the current folder), where its mechanisms are looked for first."""
    return _warned(Model.from_source(source, None if directory is None else str(directory), name))
