"""Type hints for hhc's native module. Units: ms, mV; parameters in their declared unit."""
from os import PathLike
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

class HhcError(Exception):
    """Base class of hhc's errors; the message is the rendered diagnostic."""

class ModelError(HhcError):
    """A model or mechanism file has errors (file:line:col, the source line, a hint)."""

class UsageError(HhcError):
    """An unknown name, a value outside its limits, a bad dt or thread count."""

class SimulationError(HhcError):
    """A run that failed part way; `result` holds what was computed before."""
    result: "Result"

class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; `result` holds what was computed before it stopped."""
    result: "Result"

class Model:
    """A checked model, its parameters open to change; `run` runs a copy."""
    @staticmethod
    def load(path: Union[str, PathLike]) -> "Model": ...
    @staticmethod
    def from_source(
        source: str, directory: Optional[Union[str, PathLike]] = None, name: str = "<source>.chan"
    ) -> "Model": ...
    @property
    def warnings(self) -> str: ...
    @property
    def cell(self) -> str: ...
    @property
    def count(self) -> int: ...
    @property
    def dt(self) -> float:
        """ms"""
    @property
    def tstop(self) -> float:
        """ms"""
    @property
    def celsius(self) -> float:
        """degC"""
    @property
    def populations(self) -> List[Tuple[str, int, int]]:
        """(name, first global cell id, count) of each population of a network."""
    def parameters(self) -> List[Tuple[str, str, str, float, str]]:
        """(population, mechanism or point, parameter, value, unit) of every parameter."""
    def set(
        self, mechanism: str, parameter: str, value: float, population: Optional[str] = None
    ) -> None: ...
    def set_per_cell(
        self,
        mechanism: str,
        parameter: str,
        values: npt.ArrayLike,
        population: Optional[str] = None,
    ) -> None: ...
    def run(
        self,
        tstop: Optional[float] = None,
        dt: Optional[float] = None,
        n: Optional[int] = None,
        threads: Optional[int] = None,
        backend: str = "cpu",
        precision: str = "f64",
        method: Optional[str] = None,
        record: bool = True,
        states: Optional[List[str]] = None,
        currents: Optional[List[str]] = None,
    ) -> "Result": ...

class Result:
    """What a run computed."""
    @property
    def dt(self) -> float:
        """ms"""
    @property
    def steps_done(self) -> int: ...
    @property
    def t(self) -> npt.NDArray[np.float64]:
        """Sample times, ms: 0, dt, 2 dt, ..."""
    @property
    def v(self) -> npt.NDArray[np.float64]:
        """V (mV), shape (len(trace_names), len(t))."""
    @property
    def trace_names(self) -> List[str]: ...
    @property
    def states(self) -> Dict[str, npt.NDArray[np.float64]]:
        """Each state asked for with run(states=[...]) (`"hh_classic.m"`): one row per row of
        `v` (a recorded point cell, or a probe), in the state's unit."""
    @property
    def currents(self) -> Dict[str, npt.NDArray[np.float64]]:
        """Each current asked for with run(currents=[...]) (`"hh.ina"`): one row per row of
        `v`, in mA/cm2 (nA for a point process); the value at t is the one the step ending at t
        used, as NEURON records `seg._ref_ina`."""
    @property
    def spike_cells(self) -> npt.NDArray[np.int64]: ...
    @property
    def spike_times(self) -> npt.NDArray[np.float64]:
        """ms"""
    @property
    def spike_counts(self) -> npt.NDArray[np.uint32]: ...
    @property
    def total_spikes(self) -> int: ...
    @property
    def populations(self) -> List[Tuple[str, int, int]]: ...
    @property
    def events_delivered(self) -> int: ...
    @property
    def summary(self) -> Dict[str, str]: ...

def stdlib() -> List[str]:
    """The built-in mechanisms' names."""

def process() -> Tuple[int, int]:
    """This process's rank and the number of processes of an MPI job; (0, 1) outside one."""

def _finalize() -> None: ...

built_with_mpi: bool
"""Whether this package runs networks as an MPI job's processes (built with `--features mpi`)."""

def load(path: Union[str, PathLike]) -> Model: ...
def from_source(
    source: str, directory: Optional[Union[str, PathLike]] = None, name: str = "<source>.chan"
) -> Model: ...
