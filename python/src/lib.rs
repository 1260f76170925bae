//! hhc from Python: the engine library behind a thin PyO3 front.
//!
//! A front does three things and nothing else: it turns Python values into the engine's
//! inputs, it turns the engine's outcome into numpy arrays, and it turns the engine's errors
//! into Python exceptions that carry the rendered diagnostic. Everything a run does (loading,
//! checking, compiling, stepping, events, recording) is `hhc_runtime::simulation`, the same
//! code the command line calls, so a model gives the same numbers from either.
//!
//! The Python package (`python/hhc/__init__.py`) re-exports these classes and adds the
//! docstrings' narrative; `hhc/_hhc.pyi` holds the type hints.
//!
//! **Models are values.** A [`Model`] is a checked model (a file, or source text); `set` and
//! `set_per_cell` change its parameters in place, checked as a model file's values are (limits,
//! no negative conductance); `run` compiles and runs a copy, so one model can be run many times
//! with different settings.
//!
//! **Ctrl-C.** A run releases the interpreter (other Python threads go on), and SIGINT raises
//! the engine's interrupt flag for its duration; the run stops between blocks of steps and
//! raises [`Interrupted`], a `KeyboardInterrupt` whose `result` holds what was computed.

use hhc_compiler::sema::model::{parameter_value_problem, Insert, Model, StepMethod};
use hhc_compiler::sema::network::PopulationKind;
use hhc_compiler::sema::units::UnitTable;
use hhc_runtime::sim::RunError;
use hhc_runtime::simulation::{Outcome, Request, SetupError, Simulation, Target};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyboardInterrupt};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

create_exception!(
    hhc,
    HhcError,
    PyException,
    "Base class of hhc's errors; the message is the rendered diagnostic."
);
create_exception!(
    hhc,
    ModelError,
    HhcError,
    "A model or mechanism file has errors: the message holds each diagnostic (file:line:col, the source line, a hint)."
);
create_exception!(
    hhc,
    UsageError,
    HhcError,
    "A request that contradicts itself or the model: an unknown parameter, a value outside its limits, a bad dt."
);
create_exception!(
    hhc,
    SimulationError,
    HhcError,
    "A run that failed part way (a numerical blow-up): `result` holds what was computed before."
);
create_exception!(
    hhc,
    Interrupted,
    PyKeyboardInterrupt,
    "Ctrl-C during a run: `result` holds what was computed before it stopped."
);

fn setup_error(e: SetupError) -> PyErr {
    match e {
        SetupError::Usage(m) => UsageError::new_err(m),
        SetupError::Failed(m) => HhcError::new_err(m),
    }
}

/// A model, loaded from a file or from source text, with its parameters open to change.
#[pyclass(module = "hhc", name = "Model")]
#[derive(Clone)]
struct PyModel {
    model: Model,
    /// Where it came from, for `repr`.
    origin: String,
}

/// The inserts (or points, or artificial cells) named `mechanism` in `model`, in `population`
/// when given.
fn targets<'m>(
    model: &'m mut Model,
    mechanism: &str,
    population: Option<&str>,
) -> PyResult<Vec<(String, &'m mut Insert)>> {
    let mut names = Vec::new();
    let mut found = Vec::new();
    let from_cell = |model: &'m mut Model, pop: &str, names: &mut Vec<String>| {
        let mut out = Vec::new();
        let cell = &mut model.cell;
        for ins in cell.inserts.iter_mut() {
            names.push(ins.mechanism.name.clone());
            if ins.mechanism.name == mechanism {
                out.push((pop.to_string(), ins));
            }
        }
        for p in cell.points.iter_mut() {
            names.push(p.name.clone());
            if p.name == mechanism || p.insert.mechanism.name == mechanism {
                out.push((pop.to_string(), &mut p.insert));
            }
        }
        out
    };
    if model.network.is_none() {
        if let Some(p) = population {
            return Err(UsageError::new_err(format!(
                "population `{p}`: this model has no NETWORK, so no populations\n  hint: leave out population="
            )));
        }
        let found = from_cell(model, "", &mut names);
        return found_or_error(found, names, mechanism, population);
    }
    match model.network.as_mut() {
        None => {}
        Some(net) => {
            let known: Vec<String> = net.populations.iter().map(|p| p.name.clone()).collect();
            if let Some(p) = population {
                if !known.iter().any(|k| k == p) {
                    return Err(UsageError::new_err(format!(
                        "no population `{p}`\n  hint: the populations are {}",
                        known.join(", ")
                    )));
                }
            }
            for pop in net.populations.iter_mut() {
                if population.is_some_and(|p| p != pop.name) {
                    continue;
                }
                match &mut pop.kind {
                    PopulationKind::Cells(m) => found.extend(from_cell(m, &pop.name, &mut names)),
                    PopulationKind::Artificial(ins) => {
                        names.push(pop.name.clone());
                        if ins.mechanism.name == mechanism || pop.name == mechanism {
                            found.push((pop.name.clone(), &mut **ins));
                        }
                    }
                    PopulationKind::Spikes(_) => {}
                }
            }
        }
    }
    found_or_error(found, names, mechanism, population)
}

fn found_or_error<'m>(
    found: Vec<(String, &'m mut Insert)>,
    mut names: Vec<String>,
    mechanism: &str,
    population: Option<&str>,
) -> PyResult<Vec<(String, &'m mut Insert)>> {
    if found.is_empty() {
        names.sort();
        names.dedup();
        return Err(UsageError::new_err(format!(
            "no mechanism or point `{mechanism}` in the model{}\n  hint: it has {}",
            population.map_or(String::new(), |p| format!("'s population `{p}`")),
            names.join(", ")
        )));
    }
    Ok(found)
}

fn parameter_index(ins: &Insert, parameter: &str) -> PyResult<usize> {
    let m = &ins.mechanism;
    m.params
        .iter()
        .position(|p| p.name == parameter)
        .ok_or_else(|| {
            let known: Vec<&str> = m.params.iter().map(|p| p.name.as_str()).collect();
            UsageError::new_err(format!(
                "`{}` has no parameter `{parameter}`\n  hint: its parameters are {}",
                m.name,
                known.join(", ")
            ))
        })
}

fn check_value(units: &UnitTable, ins: &Insert, pi: usize, x: f64, which: &str) -> PyResult<()> {
    match parameter_value_problem(units, &ins.mechanism, pi, x) {
        Some(p) => Err(UsageError::new_err(format!(
            "{}{which}\n  hint: {}",
            p.message, p.hint
        ))),
        None => Ok(()),
    }
}

fn parse_precision(name: &str) -> PyResult<hhc_compiler::passes::mathlib::Precision> {
    use hhc_compiler::passes::mathlib::Precision;
    match name {
        "f64" => Ok(Precision::F64),
        "f32" => Ok(Precision::F32),
        other => Err(UsageError::new_err(format!(
            "precision `{other}`\n  hint: use \"f64\" or \"f32\""
        ))),
    }
}

#[pymethods]
impl PyModel {
    /// Loads a model file; its mechanisms are found beside it, then in the stdlib. In an MPI
    /// job, a network keeps only the connections to this process's cells.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<PyModel> {
        let model = hhc_runtime::load::load_model_shared(&path, this_share()?)
            .map_err(|r| ModelError::new_err(r.text))?;
        Ok(PyModel {
            model,
            origin: path.display().to_string(),
        })
    }

    /// Model source text, read as if it were a file named `name` in `directory` (where its
    /// mechanisms and data files are looked for, before the stdlib).
    #[staticmethod]
    #[pyo3(signature = (source, directory=None, name="<source>.chan"))]
    fn from_source(source: &str, directory: Option<PathBuf>, name: &str) -> PyResult<PyModel> {
        let dir = directory.unwrap_or_else(|| PathBuf::from("."));
        let model = hhc_runtime::load::load_model_source_shared(name, source, &dir, this_share()?)
            .map_err(|r| ModelError::new_err(r.text))?;
        Ok(PyModel {
            model,
            origin: name.to_string(),
        })
    }

    /// What the model's files warned of, rendered as the command line prints it (a `.mod`
    /// file's units that disagree with its numbers, which run as NEURON runs them); empty when
    /// nothing did. `hhc.load` and `hhc.from_source` pass it to Python's `warnings.warn`.
    #[getter]
    fn warnings(&self) -> String {
        self.model.warnings.clone()
    }

    /// The CELL type's name (a network's first population of cells).
    #[getter]
    fn cell(&self) -> String {
        self.model.cell.name.clone()
    }

    /// Cells in the population (all populations together for a network).
    #[getter]
    fn count(&self) -> u64 {
        match &self.model.network {
            Some(net) => net.cells(),
            None => self.model.count,
        }
    }

    #[getter]
    fn dt(&self) -> f64 {
        self.model.dt
    }

    #[getter]
    fn tstop(&self) -> f64 {
        self.model.tstop
    }

    #[getter]
    fn celsius(&self) -> f64 {
        self.model.celsius
    }

    /// Each population of a network as (name, first global cell id, count); empty otherwise.
    #[getter]
    fn populations(&self) -> Vec<(String, u64, u64)> {
        self.model.network.as_ref().map_or(Vec::new(), |n| {
            n.populations
                .iter()
                .map(|p| (p.name.clone(), p.first, p.count))
                .collect()
        })
    }

    /// Every parameter a run will use: (population, mechanism or point, parameter, value,
    /// unit). `population` is "" outside a network.
    fn parameters(&mut self) -> Vec<(String, String, String, f64, String)> {
        let mut out = Vec::new();
        let mut names: Vec<String> = self
            .model
            .cell
            .inserts
            .iter()
            .map(|i| i.mechanism.name.clone())
            .chain(self.model.cell.points.iter().map(|p| p.name.clone()))
            .collect();
        if let Some(net) = &self.model.network {
            names.clear();
            for p in &net.populations {
                match &p.kind {
                    PopulationKind::Cells(m) => names.extend(
                        m.cell
                            .inserts
                            .iter()
                            .map(|i| i.mechanism.name.clone())
                            .chain(m.cell.points.iter().map(|p| p.name.clone())),
                    ),
                    PopulationKind::Artificial(_) => names.push(p.name.clone()),
                    PopulationKind::Spikes(_) => {}
                }
            }
        }
        names.dedup();
        let mut seen = std::collections::HashSet::new();
        for name in names {
            let Ok(found) = targets(&mut self.model, &name, None) else {
                continue;
            };
            for (pop, ins) in found {
                let key = (pop.clone(), name.clone());
                if !seen.insert(key) {
                    continue;
                }
                for (pi, p) in ins.mechanism.params.iter().enumerate() {
                    out.push((
                        pop.clone(),
                        name.clone(),
                        p.name.clone(),
                        ins.params[pi],
                        p.unit.clone().unwrap_or_default(),
                    ));
                }
            }
        }
        out
    }

    /// Gives `parameter` of `mechanism` (a SUFFIX, a point's name or its POINT_PROCESS, an
    /// artificial population) one value on every cell, in the parameter's own unit.
    #[pyo3(signature = (mechanism, parameter, value, population=None))]
    fn set(
        &mut self,
        mechanism: &str,
        parameter: &str,
        value: f64,
        population: Option<&str>,
    ) -> PyResult<()> {
        for (_, ins) in targets(&mut self.model, mechanism, population)? {
            let pi = parameter_index(ins, parameter)?;
            check_value(&UnitTable::default(), ins, pi, value, "")?;
            ins.params[pi] = value;
            ins.per_cell.retain(|(p, _)| *p != pi);
            ins.along.retain(|(p, _, _)| *p != pi);
        }
        Ok(())
    }

    /// Gives `parameter` of `mechanism` a value per cell from a 1-D array: cell i gets
    /// `values[i]`. Outside a network the population becomes `len(values)` cells (every array
    /// given this way must have that length); in a network, `population` names the population,
    /// and the array has its count.
    #[pyo3(signature = (mechanism, parameter, values, population=None))]
    fn set_per_cell(
        &mut self,
        mechanism: &str,
        parameter: &str,
        values: PyReadonlyArray1<'_, f64>,
        population: Option<&str>,
    ) -> PyResult<()> {
        let values: Vec<f64> = values.as_array().to_vec();
        if values.is_empty() {
            return Err(UsageError::new_err(
                "an empty array of values\n  hint: give one value per cell",
            ));
        }
        let network = self.model.network.is_some();
        if network && population.is_none() {
            return Err(UsageError::new_err(
                "values per cell in a network belong to one population\n  hint: add population=\"name\"",
            ));
        }
        let counts: Vec<(String, u64)> = self.model.network.as_ref().map_or(Vec::new(), |n| {
            n.populations
                .iter()
                .map(|p| (p.name.clone(), p.count))
                .collect()
        });
        // Outside a network, every table must agree on the population's size.
        if !network {
            let others: Vec<usize> = self
                .model
                .cell
                .inserts
                .iter()
                .chain(self.model.cell.points.iter().map(|p| &p.insert))
                .flat_map(|i| i.per_cell.iter().map(|(_, v)| v.len()))
                .collect();
            if let Some(&other) = others.iter().find(|&&l| l != values.len()) {
                return Err(UsageError::new_err(format!(
                    "{} values, but another parameter already has {other} (one per cell)\n  hint: give every parameter's values for the same cells",
                    values.len()
                )));
            }
        }
        for (pop, ins) in targets(&mut self.model, mechanism, population)? {
            if let Some(&(_, count)) = counts.iter().find(|(n, _)| *n == pop) {
                if values.len() as u64 != count {
                    return Err(UsageError::new_err(format!(
                        "{} values for population `{pop}` of {count} cells\n  hint: give one value per cell",
                        values.len()
                    )));
                }
            }
            let pi = parameter_index(ins, parameter)?;
            let units = UnitTable::default();
            for (i, &x) in values.iter().enumerate() {
                check_value(&units, ins, pi, x, &format!(" (cell {i})"))?;
            }
            ins.per_cell.retain(|(p, _)| *p != pi);
            ins.along.retain(|(p, _, _)| *p != pi);
            ins.per_cell.push((pi, values.clone()));
        }
        if !network {
            self.model.count = values.len() as u64;
            self.model.record.retain(|&c| c < values.len() as u64);
            if self.model.record.is_empty() {
                self.model.record.push(0);
            }
        }
        Ok(())
    }

    /// Runs the model from its initial state and returns a `Result`. `tstop` and `dt` (ms)
    /// override SIMULATE's; `n` sets the population size of a single population; `threads`
    /// defaults to every core; `backend` is "cpu" or "gpu"; `precision` "f64" or "f32";
    /// `method` "exp-euler" or "exp-rosenbrock" (point cells); `record=False` traces nothing;
    /// `states` names states to trace beside V (`["Na_HH1952.m"]`) in each recorded point
    /// cell, or at each probe of a morphology (where its mechanism must be inserted);
    /// `currents` names currents the same way (`["hh.ina"]`), traced as each step used them, in
    /// mA/cm² (nA for a point process), as NEURON records them.
    #[pyo3(signature = (tstop=None, dt=None, n=None, threads=None, backend="cpu", precision="f64", method=None, record=true, states=None, currents=None))]
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        py: Python<'_>,
        tstop: Option<f64>,
        dt: Option<f64>,
        n: Option<u64>,
        threads: Option<usize>,
        backend: &str,
        precision: &str,
        method: Option<&str>,
        record: bool,
        states: Option<Vec<String>>,
        currents: Option<Vec<String>>,
    ) -> PyResult<PyOutcome> {
        let states = states.unwrap_or_default();
        let currents = currents.unwrap_or_default();
        let target = match backend {
            "cpu" => Target::Cpu,
            "gpu" => Target::Gpu,
            other => {
                return Err(UsageError::new_err(format!(
                    "backend `{other}`\n  hint: use \"cpu\" or \"gpu\""
                )))
            }
        };
        let method = match method {
            None => None,
            Some("exp-euler") => Some(StepMethod::ExpEuler),
            Some("exp-rosenbrock") => Some(StepMethod::ExpRosenbrock),
            Some(other) => {
                return Err(UsageError::new_err(format!(
                    "method `{other}`\n  hint: use \"exp-euler\" or \"exp-rosenbrock\""
                )))
            }
        };
        let exchange = processes()?;
        // In an MPI job, the processes on this machine share its cores.
        let threads = threads.or_else(|| {
            exchange.as_ref().map(|_| {
                let here = hhc_runtime::distributed::processes_on_this_machine();
                (hhc_runtime::simulation::default_threads() / here).max(1)
            })
        });
        let request = Request {
            count: n,
            tstop,
            dt,
            method,
            target,
            precision: parse_precision(precision)?,
            threads,
            record,
            record_states: states.iter().chain(&currents).cloned().collect(),
            exchange,
            ..Request::default()
        };
        let mut simulation = Simulation::new(self.model.clone(), &request).map_err(setup_error)?;
        let summary = simulation.summary().clone();
        let summary = Summary {
            backend: summary.backend,
            cells: summary.cells,
            steps: summary.steps,
            compartments: summary.compartments,
            tables: summary.tables,
        };
        let interrupt = Arc::new(AtomicBool::new(false));
        #[cfg(unix)]
        let handler =
            signal_hook::flag::register(signal_hook::consts::SIGINT, interrupt.clone()).ok();
        // The run releases the interpreter, so other Python threads go on meanwhile. It runs
        // on this thread (allow_threads moves nothing across threads); the wrapper only tells
        // the compiler so, since a GPU backend's handles are not `Send`.
        let on_this_thread = StaysOnThisThread(&mut simulation);
        let outcome = py.allow_threads(move || {
            let simulation = on_this_thread;
            simulation.0.run(Some(interrupt), None)
        });
        #[cfg(unix)]
        if let Some(id) = handler {
            signal_hook::low_level::unregister(id);
        }
        // A SIGINT also reached Python's own handler: take its pending KeyboardInterrupt, so
        // that the one raised here (with the partial result) is the only one.
        let pending = py.check_signals();
        match outcome {
            Ok(outcome) => {
                pending?;
                Ok(PyOutcome {
                    outcome,
                    summary,
                    states,
                    currents,
                })
            }
            Err(stopped) => {
                let (kind, text) = match &stopped.error {
                    RunError::Interrupted { .. } => (0, stopped.error.to_string()),
                    e => (1, e.to_string()),
                };
                let err = if kind == 0 {
                    Interrupted::new_err(text)
                } else {
                    SimulationError::new_err(text)
                };
                if let Some(partial) = stopped.partial {
                    let partial = Py::new(
                        py,
                        PyOutcome {
                            outcome: *partial,
                            summary,
                            states,
                            currents,
                        },
                    )?;
                    err.value(py).setattr("result", partial)?;
                }
                Err(err)
            }
        }
    }

    fn __repr__(&self) -> String {
        match &self.model.network {
            Some(net) => format!(
                "<hhc.Model {} ({} populations, {} cells, {} connections), dt {} ms, tstop {} ms>",
                self.origin,
                net.populations.len(),
                net.cells(),
                net.connections.len(),
                self.model.dt,
                self.model.tstop
            ),
            None => format!(
                "<hhc.Model {}: {} x {}, dt {} ms, tstop {} ms>",
                self.origin,
                self.model.count,
                self.model.cell.name,
                self.model.dt,
                self.model.tstop
            ),
        }
    }
}

/// A value used only on the thread that made it, across `allow_threads` (which runs its closure
/// on the calling thread).
struct StaysOnThisThread<T>(T);

// SAFETY: `Python::allow_threads` calls the closure on the current thread and returns before
// the caller goes on, so the value never reaches another thread.
unsafe impl<T> Send for StaysOnThisThread<T> {}

#[derive(Clone)]
struct Summary {
    backend: String,
    cells: usize,
    steps: u64,
    compartments: usize,
    tables: Vec<(String, bool)>,
}

/// What a run computed: traces, spikes and counts, as numpy arrays.
#[pyclass(module = "hhc", name = "Result", frozen)]
struct PyOutcome {
    outcome: Outcome,
    summary: Summary,
    /// The states and currents recorded beside V: the traces come per cell as V, then the
    /// states, then the currents.
    states: Vec<String>,
    currents: Vec<String>,
}

impl PyOutcome {
    /// The traces of V (`which` 0) or of the `which`-th recorded state or current, one per
    /// cell.
    fn rows(&self, which: usize) -> Vec<&hhc_runtime::simulation::Trace> {
        let per_cell = 1 + self.states.len() + self.currents.len();
        self.outcome
            .traces
            .iter()
            .skip(which)
            .step_by(per_cell)
            .collect()
    }

    fn matrix<'py>(
        py: Python<'py>,
        traces: &[&hhc_runtime::simulation::Trace],
    ) -> Bound<'py, PyArray2<f64>> {
        let samples = traces.iter().map(|t| t.values.len()).min().unwrap_or(0);
        let flat: Vec<f64> = traces
            .iter()
            .flat_map(|t| t.values[..samples].iter().copied())
            .collect();
        Array2::from_shape_vec((traces.len(), samples), flat)
            .expect("rows of equal length")
            .into_pyarray(py)
    }
}

#[pymethods]
impl PyOutcome {
    /// The time step, ms.
    #[getter]
    fn dt(&self) -> f64 {
        self.outcome.dt
    }

    /// Steps taken (fewer than asked when the run stopped early).
    #[getter]
    fn steps_done(&self) -> u64 {
        self.outcome.steps_done
    }

    /// Times of the trace samples, ms: 0, dt, 2·dt, … (the initial state, then after each step).
    #[getter]
    fn t<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        let samples = self
            .outcome
            .traces
            .first()
            .map_or(self.outcome.steps_done as usize + 1, |t| t.values.len());
        let dt = self.outcome.dt;
        (0..samples)
            .map(|k| k as f64 * dt)
            .collect::<Vec<f64>>()
            .into_pyarray(py)
    }

    /// V (mV), one row per trace (see `trace_names`), one column per time of `t`.
    #[getter]
    fn v<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        PyOutcome::matrix(py, &self.rows(0))
    }

    /// Each state asked for with `run(states=[…])`: its name, and its values with one row per
    /// recorded cell (the rows of `v`), one column per time of `t`, in the state's unit.
    #[getter]
    fn states<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let out = pyo3::types::PyDict::new(py);
        for (j, name) in self.states.iter().enumerate() {
            out.set_item(name, PyOutcome::matrix(py, &self.rows(j + 1)))?;
        }
        Ok(out)
    }

    /// Each current asked for with `run(currents=[…])`: its name, and its values with one row
    /// per recorded cell (the rows of `v`), one column per time of `t`, in mA/cm² (nA for a
    /// point process). The value at time t is the one the step ending at t used (at t = 0, the
    /// initial state's), as NEURON's recording of `seg._ref_ina` gives.
    #[getter]
    fn currents<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let out = pyo3::types::PyDict::new(py);
        let first = 1 + self.states.len();
        for (j, name) in self.currents.iter().enumerate() {
            out.set_item(name, PyOutcome::matrix(py, &self.rows(first + j)))?;
        }
        Ok(out)
    }

    /// Each mechanism with a TABLE, and whether the run read NEURON's table (`usetable = 1`,
    /// NEURON's default) rather than computing the function exactly (hhc's default).
    #[getter]
    fn tables<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let out = pyo3::types::PyDict::new(py);
        for (name, reads) in &self.summary.tables {
            out.set_item(name, *reads)?;
        }
        Ok(out)
    }

    /// What each row of `v` is: `cell3` (a point cell), `soma(0.5)` (a probe), or
    /// `population[i] soma(0.5)` in a network.
    #[getter]
    fn trace_names(&self) -> Vec<String> {
        self.rows(0).iter().map(|t| t.name.clone()).collect()
    }

    /// The cell of each spike (a global id in a network), in time order.
    #[getter]
    fn spike_cells<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        match &self.outcome.network {
            Some(net) => net
                .spikes
                .iter()
                .map(|&(c, _)| c as i64)
                .collect::<Vec<_>>(),
            None => self.outcome.spikes.iter().map(|&(c, _)| c as i64).collect(),
        }
        .into_pyarray(py)
    }

    /// The time of each spike, ms: the end of the step in which V crossed V_th from below.
    #[getter]
    fn spike_times<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        let dt = self.outcome.dt;
        match &self.outcome.network {
            Some(net) => net.spikes.iter().map(|&(_, t)| t).collect::<Vec<_>>(),
            None => self
                .outcome
                .spikes
                .iter()
                .map(|&(_, s)| (s + 1) as f64 * dt)
                .collect(),
        }
        .into_pyarray(py)
    }

    /// Spikes per cell.
    #[getter]
    fn spike_counts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        self.outcome.spike_counts.clone().into_pyarray(py)
    }

    /// All spikes of all cells.
    #[getter]
    fn total_spikes(&self) -> u64 {
        self.outcome.total_spikes
    }

    /// A network's populations as (name, first global cell id, count); empty otherwise.
    #[getter]
    fn populations(&self) -> Vec<(String, u64, u64)> {
        self.outcome
            .network
            .as_ref()
            .map_or(Vec::new(), |n| n.populations.clone())
    }

    /// Events delivered to synapses and artificial cells (0 without a network).
    #[getter]
    fn events_delivered(&self) -> u64 {
        self.outcome
            .network
            .as_ref()
            .map_or(0, |n| n.events_delivered)
    }

    /// What ran: backend, cells, steps, compartments per cell.
    #[getter]
    fn summary(&self) -> std::collections::BTreeMap<&'static str, String> {
        let s = &self.summary;
        [
            ("backend", s.backend.clone()),
            ("cells", s.cells.to_string()),
            ("steps", s.steps.to_string()),
            ("compartments", s.compartments.to_string()),
        ]
        .into_iter()
        .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "<hhc.Result {} steps of {} ms, {} traces, {} spikes>",
            self.outcome.steps_done,
            self.outcome.dt,
            self.outcome.traces.len(),
            self.outcome.total_spikes
        )
    }
}

/// The stdlib's mechanisms, by name.
/// MPI in this process: not started yet, started (an MPI launcher started the process), not
/// used (no launcher), or finalized at exit. MPI starts once per process at most.
#[cfg(feature = "mpi")]
enum MpiState {
    Unstarted,
    Running(Arc<hhc_runtime::mpi::Mpi>),
    Alone,
    Finalized,
}

#[cfg(feature = "mpi")]
static MPI: std::sync::Mutex<MpiState> = std::sync::Mutex::new(MpiState::Unstarted);

/// The processes a run shares: an MPI job's when the package is built with MPI and a launcher
/// started this process, else none. A package without MPI started as several processes
/// refuses, rather than run the whole model in each.
fn processes() -> PyResult<Option<Arc<dyn hhc_runtime::distributed::Exchange>>> {
    #[cfg(feature = "mpi")]
    {
        let mut state = MPI
            .lock()
            .map_err(|_| HhcError::new_err("MPI's state is poisoned"))?;
        if matches!(*state, MpiState::Unstarted) {
            *state = match hhc_runtime::mpi::Mpi::from_launcher() {
                Some(mpi) => MpiState::Running(Arc::new(mpi)),
                None => MpiState::Alone,
            };
        }
        match &*state {
            MpiState::Running(mpi) => return Ok(Some(mpi.clone())),
            MpiState::Finalized => return Err(UsageError::new_err(
                "MPI has been finalized (at exit)\n  hint: run models before the interpreter exits",
            )),
            MpiState::Unstarted | MpiState::Alone => {}
        }
    }
    match hhc_runtime::distributed::launched_processes() {
        Some(k) if k > 1 && cfg!(not(feature = "mpi")) => Err(UsageError::new_err(format!(
            "an MPI launcher started {k} processes, and this hhc package was built without MPI, so each would run the whole model\n  hint: build it with `maturin develop --release --features mpi` (Open MPI's libopenmpi-dev and libclang-dev installed)"
        ))),
        _ => Ok(None),
    }
}

/// This process's part of a network in an MPI job (MPI starts here, at the first model).
fn this_share() -> PyResult<Option<hhc_compiler::sema::network::Share>> {
    Ok(processes()?.map(|e| hhc_runtime::distributed::share_of(e.as_ref())))
}

/// This process's rank and the number of processes of the run: `(0, 1)` outside an MPI job.
/// Under `mpirun`, every process calls `Model.run` alike; each gets the whole result (every
/// spike and trace), so a script writes its files from rank 0 alone.
#[pyfunction]
fn process() -> PyResult<(usize, usize)> {
    Ok(processes()?.map_or((0, 1), |e| (e.rank(), e.processes())))
}

/// Finalizes MPI, if it was started (registered with `atexit` by the package).
#[pyfunction]
fn _finalize() {
    #[cfg(feature = "mpi")]
    if let Ok(mut state) = MPI.lock() {
        // Dropping the last handle finalizes MPI.
        *state = MpiState::Finalized;
    }
}

#[pyfunction]
fn stdlib() -> Vec<String> {
    let mut names: Vec<String> = hhc_runtime::load::stdlib()
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    names.sort();
    names
}

#[pymodule]
fn _hhc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<PyModel>()?;
    m.add_class::<PyOutcome>()?;
    m.add_function(wrap_pyfunction!(stdlib, m)?)?;
    m.add_function(wrap_pyfunction!(process, m)?)?;
    m.add("built_with_mpi", cfg!(feature = "mpi"))?;
    m.add_function(wrap_pyfunction!(_finalize, m)?)?;
    m.add("HhcError", py.get_type::<HhcError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("UsageError", py.get_type::<UsageError>())?;
    m.add("SimulationError", py.get_type::<SimulationError>())?;
    m.add("Interrupted", py.get_type::<Interrupted>())?;
    Ok(())
}
