//! The analytic conductance dI/dv of each current, for the V update and the cable solver.

use super::symbolic::pdiff;
use crate::ir::{Builtin, Mechanism, Var};

pub fn conductance(m: &mut Mechanism) {
    for i in 0..m.currents.len() {
        let g = pdiff(&mut m.exprs, m.currents[i].value, Var::Builtin(Builtin::V));
        m.currents[i].conductance = Some(g);
    }
}
