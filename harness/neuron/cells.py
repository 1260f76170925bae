"""The cells the NEURON harnesses build, in one place: NEURON's textbook hh (at the harness's
6.3 degC, with exact rates) on a 20 x 20 um soma, and the ball-and-stick of the network and
clamp fixtures. Each harness imports what it needs (`from cells import ...`)."""
from neuron import h


def hh_soma(name="soma"):
    """A 20 x 20 um soma with hh (gl 0.3 mS/cm2, el -54.387 mV), ena 50 and ek -77 mV."""
    soma = h.Section(name=name)
    soma.L = 20; soma.diam = 20; soma.nseg = 1; soma.cm = 1
    soma.insert("hh")
    for seg in soma:
        seg.hh.gnabar = 0.12; seg.hh.gkbar = 0.036; seg.hh.gl = 0.0003; seg.hh.el = -54.387
        seg.ena = 50; seg.ek = -77
    return soma


def ballstick(suffix="", length=200, diam=1, nseg=11):
    """hh_soma with a passive dendrite (pas 1 mS/cm2, -65 mV) at its end; Ra 100 ohm cm."""
    soma = hh_soma(f"soma{suffix}")
    dend = h.Section(name=f"dend{suffix}")
    dend.L = length; dend.diam = diam; dend.nseg = nseg
    dend.connect(soma(1), 0)
    for s in (soma, dend):
        s.Ra = 100; s.cm = 1
    dend.insert("pas")
    for seg in dend:
        seg.pas.g = 0.001; seg.pas.e = -65
    return soma, dend


def textbook_run():
    """hh at 6.3 degC with its rates computed exactly, as hhc computes them (hh.mod's TABLE
    interpolates in 1 mV steps)."""
    h.celsius = 6.3
    h.usetable_hh = 0
