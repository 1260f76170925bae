//! Passes over the IR. Each is a function with explicit input and output.
//!
//! * [`simplify`]: folding constructors used by every stage (constant folding, identities; the
//!   hash-consing arena adds CSE).
//! * [`symbolic`]: `pdiff`, `substitute`, `depends_on`.
//! * [`cnexp::cnexp`]: the exact exponential-Euler solve; [`steppers`]: NEURON's `euler`,
//!   `derivimplicit` (backward Euler by Newton) and `runge` for files that ask for them.
//! * [`conductance::conductance`]: dI/dv of every current.
//! * [`expshare::share_exponentials`]: exponentials affine in V computed from shared ones.
//! * [`mathlib::lower_math`]: special functions expanded into primitives for the backends.
//!
//! Inlining of FUNCTION and PROCEDURE calls happens during lowering (`sema`), which executes
//! blocks symbolically; there is no call left in the IR for a pass to inline.

pub mod cnexp;
pub mod conductance;
pub mod expshare;
pub mod kinetic;
pub mod mathlib;
pub mod simplify;
pub mod steppers;
pub mod symbolic;
