"""Models built from Python objects: cells, sections, mechanisms, point processes, populations
and connections, turned into hhc's model language and loaded like a file.

    from hhc import build
    cell = build.Cell("BallStick", v_init=-65, Ra=100)
    cell.ion("na", e=50).ion("k", e=-77)
    cell.section("soma", L=20, diam=20)
    cell.section("dend", parent="soma", L=200, diam=1, nseg=11)
    cell.insert("hh_classic", sections=["soma"])
    cell.insert("IL", sections=["dend"], E=-65, g_max=1)
    cell.point("syn", "ExpSyn", at=("dend", 0.5), tau=2)
    net = build.Network()
    net.population("ring", cell, count=8, record=[0, 3], probe=[("soma", 0.5)])
    net.spikes("kick", times=[1.0])
    net.connect("kick", "ring", at="syn", pre_cells=[0], post_cells=[0], weight=0.05, delay=1)
    model = build.model([cell], network=net, dt=0.025, tstop=100, celsius=6.3)

Units: the cell's settings in hhc's units (mV, ms, um, ohm cm, uF/cm2, degC); a mechanism's
parameter as a number in its declared unit (`Model.parameters()` shows them), or as text with a
unit, `"2 (ms)"`, or a pair `(2, "ms")`, converted and checked as in a file. A weight is in the
unit of the synapse's NET_RECEIVE argument (uS for ExpSyn). `source(…)` gives the text.
"""
from ._hhc import Model

__all__ = ["Cell", "Network", "model", "source"]


def _value(x):
    """A value as the model language writes it."""
    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], str):
        return f"{float(x[0])!r} ({x[1]})"
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return "true" if x else "false"
    return repr(float(x)) if not isinstance(x, int) else str(x)


def _quantity(x, unit):
    """A number in `unit` unless it already carries one."""
    if isinstance(x, (tuple, str)):
        return _value(x)
    return f"{float(x)!r} ({unit})"


def _settings(values):
    return "  ".join(f"{k} = {_value(v)}" for k, v in values.items())


def _name(text, what):
    if not (isinstance(text, str) and text.replace("_", "a").isalnum() and not text[0].isdigit()):
        raise ValueError(f"{what} `{text}` is not a name (letters, digits and _)")
    return text


class Cell:
    """A CELL type: sections (none for a point cell), ions, mechanisms and point processes."""

    def __init__(self, name, v_init=None, V_th=None, cm=None, Ra=None, swc=None):
        self.name = _name(name, "cell")
        self._head = []
        for key, value, unit in (("v_init", v_init, "mV"), ("V_th", V_th, "mV"),
                                 ("cm", cm, "uF/cm2"), ("Ra", Ra, "ohm cm")):
            if value is not None:
                self._head.append(f"{key} = {_quantity(value, unit)}")
        if swc is not None:
            self._head.append(f"swc = {_name(swc, 'SWC file')}")
        self._items = []

    def ion(self, name, e=None, **concentrations):
        """A fixed reversal potential `e` (mV), or concentrations (`nai=…`, mM; then E follows
        Nernst)."""
        parts = [] if e is None else [f"e = {_quantity(e, 'mV')}"]
        parts += [f"{k} = {_quantity(v, 'mM')}" for k, v in concentrations.items()]
        self._items.append(f"ION {_name(name, 'ion')} {{ {'  '.join(parts)} }}")
        return self

    def section(self, name, L, diam, parent=None, nseg=None):
        """A cylinder of length `L` and diameter `diam` (um); `parent` is a section (joined at
        its end) or (section, x)."""
        parts = []
        if parent is not None:
            if isinstance(parent, tuple):
                parts.append(f"parent = {_name(parent[0], 'section')}({float(parent[1])!r})")
            else:
                parts.append(f"parent = {_name(parent, 'section')}")
        parts += [f"L = {_quantity(L, 'um')}", f"diam = {_quantity(diam, 'um')}"]
        if nseg is not None:
            parts.append(f"nseg = {int(nseg)}")
        self._items.append(f"SECTION {_name(name, 'section')} {{ {'  '.join(parts)} }}")
        return self

    def insert(self, mechanism, sections=None, **parameters):
        """A density mechanism by SUFFIX on every section, or on `sections`, with parameter
        overrides (and STATE initial values)."""
        where = "" if not sections else " IN " + ", ".join(_name(s, "section") for s in sections)
        self._items.append(
            f"INSERT {_name(mechanism, 'mechanism')}{where} {{ {_settings(parameters)} }}")
        return self

    def point(self, name, mechanism, at=("soma", 0.5), **parameters):
        """A point process (`ExpSyn`, `IClamp`, …) named `name` at `at` = (section, x)."""
        section, x = at
        self._items.append(
            f"POINT {_name(name, 'point')} = {_name(mechanism, 'mechanism')} AT "
            f"{_name(section, 'section')}({float(x)!r}) {{ {_settings(parameters)} }}")
        return self

    def text(self):
        body = "\n".join("    " + line for line in self._head + self._items)
        return f"CELL {self.name} {{\n{body}\n}}\n"


def _indices(xs):
    return ", ".join(str(int(x)) for x in xs)


def _places(places):
    return ", ".join(f"{_name(s, 'section')}({float(x)!r})" for s, x in places)


def _pairs(pre_cells, post_cells, rule, seed, file):
    """The settings that say which cells a CONNECT or GAP joins."""
    parts = []
    if pre_cells is not None:
        parts += [f"pre = {_indices(pre_cells)}", f"post = {_indices(post_cells)}"]
    if rule is not None:
        parts.append(f"rule = {rule}")
    if seed is not None:
        parts.append(f"seed = {int(seed)}")
    if file is not None:
        parts.append(f"file = {_name(file, 'table')}")
    return parts


class Network:
    """Populations (of cells, artificial cells or spike sources) and connections."""

    def __init__(self):
        self._items = []

    def population(self, name, cell, count=1, record=None, probe=None, detector=None,
                   stimulus=None, values=None):
        """`count` cells of `cell` (a Cell or its name); `record` (cell indices) and `probe`
        ((section, x) pairs) say what V is traced, `stimulus` is model-language text such as
        "iclamp(0.2 (nA), 5 (ms), 100 (ms), soma(0.5))", `values` a CSV table's name."""
        parts = [f"count = {int(count)}"]
        if probe:
            parts.append(f"probe = {_places(probe)}")
        if detector:
            parts.append(f"detector = {_places([detector])}")
        if record:
            parts.append(f"record = {_indices(record)}")
        if stimulus:
            parts.append(f"stimulus = {stimulus}")
        if values:
            parts.append(f"values = {_name(values, 'table')}")
        cell_name = cell.name if isinstance(cell, Cell) else _name(cell, "cell")
        self._items.append(
            f"POPULATION {_name(name, 'population')} = {cell_name} {{ {'  '.join(parts)} }}")
        return self

    def artificial(self, name, mechanism, count=1, times=None, file=None, **parameters):
        """`count` artificial cells (`NetStim`, `IntFire1`, …) with parameter values. A
        mechanism that plays a Vector (a `.mod` VecStim) takes its spike times: `times` (ms)
        for every cell, or `file`, the name of a CSV table of `cell,t_ms` rows beside the
        model."""
        played = []
        if times is not None:
            played.append("times = " + ", ".join(_quantity(t, "ms") for t in times))
        if file is not None:
            played.append(f"file = {_name(file, 'file')}")
        settings = "  ".join(played + ([_settings(parameters)] if parameters else []))
        self._items.append(
            f"POPULATION {_name(name, 'population')} = {_name(mechanism, 'mechanism')} "
            f"{{ count = {int(count)}  {settings} }}")
        return self

    def spikes(self, name, times, count=1):
        """`count` spike sources, each firing at `times` (ms)."""
        ts = ", ".join(repr(float(t)) for t in times)
        self._items.append(
            f"POPULATION {_name(name, 'population')} = spikes {{ times = {ts} (ms)"
            f"  count = {int(count)} }}")
        return self

    def connect(self, pre, post, weight, delay, at=None, pre_cells=None, post_cells=None,
                rule=None, seed=None, autapses=None, file=None):
        """Connections from population `pre` to `post` (its point `at`): explicit `pre_cells`
        and `post_cells` (indices within the populations, paired in order), or `rule` ("all_to_all", "one_to_one", "probability(0.1)", "indegree(10)") with `seed`, or
        a CSV table `file`. `delay` in ms; `weight` in the synapse's unit."""
        parts = _pairs(pre_cells, post_cells, rule, seed, file)
        if autapses is not None:
            parts.append(f"autapses = {_value(bool(autapses))}")
        if file is None:
            parts += [f"weight = {_value(weight)}", f"delay = {_quantity(delay, 'ms')}"]
        target = "" if at is None else f" AT {_name(at, 'point')}"
        self._items.append(
            f"CONNECT {_name(pre, 'population')} -> {_name(post, 'population')}{target} "
            f"{{ {'  '.join(parts)} }}")
        return self

    def gap(self, a, b, at, weight, pre_cells=None, post_cells=None, rule=None, seed=None,
            file=None):
        """Gap junctions between point `at` (a gap junction site such as `Gap`) of cells of
        population `a` and the same point of cells of `b`: explicit `pre_cells` (in `a`) and
        `post_cells` (in `b`), or `rule` ("all_to_all", "one_to_one", "probability(0.1)") with
        `seed`, or a CSV table `file` (rows pre,post,weight). `weight` is each junction's
        conductance, in the unit of the site's `g` (uS for Gap), or with its unit: (1, "nS")."""
        parts = _pairs(pre_cells, post_cells, rule, seed, file)
        if file is None:
            parts.append(f"weight = {_value(weight)}")
        self._items.append(
            f"GAP {_name(a, 'population')} <-> {_name(b, 'population')} AT "
            f"{_name(at, 'point')} {{ {'  '.join(parts)} }}")
        return self

    def text(self):
        body = "\n".join("    " + line for line in self._items)
        return f"NETWORK {{\n{body}\n}}\n"


def source(cells, network=None, cell=None, count=None, dt=None, tstop=None, celsius=None,
           stimulus=None, record=None, probe=None, detector=None):
    """The model language text of `cells` (a Cell or a list), an optional `network`, and the
    SIMULATE settings (dt and tstop in ms, celsius in degC)."""
    cells = [cells] if isinstance(cells, Cell) else list(cells)
    parts = []
    if network is None:
        first = cell if cell is not None else cells[0].name
        parts.append(f"cell = {first.name if isinstance(first, Cell) else first}")
        if count is not None:
            parts.append(f"count = {int(count)}")
        if stimulus is not None:
            parts.append(f"stimulus = {stimulus}")
        if record is not None:
            parts.append(f"record = {_indices(record)}")
        if probe:
            parts.append(f"probe = {_places(probe)}")
        if detector:
            parts.append(f"detector = {_places([detector])}")
    for key, value, unit in (("dt", dt, "ms"), ("tstop", tstop, "ms"),
                             ("celsius", celsius, "degC")):
        if value is not None:
            parts.append(f"{key} = {_quantity(value, unit)}")
    text = "".join(c.text() for c in cells)
    if network is not None:
        text += network.text()
    body = "\n".join("    " + p for p in parts)
    return text + f"SIMULATE {{\n{body}\n}}\n"


def model(cells, network=None, directory=None, **simulate):
    """`source(…)` loaded as a Model; mechanisms and tables are found in `directory` (default:
    the current folder), then in the stdlib. Errors in the text raise ModelError against
    `<build>.chan`; `source(…)` with the same arguments shows that text."""
    text = source(cells, network, **simulate)
    return Model.from_source(text, None if directory is None else str(directory), "<build>.chan")
