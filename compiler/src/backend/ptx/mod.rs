//! PTX text for NVIDIA GPUs (not yet implemented; the CLI reports so).
use crate::ir::CellProgram;
use crate::passes::mathlib::Precision;

pub fn emit_program(_p: &CellProgram, _precision: Precision, _sm: u32) -> String {
    String::from("// PTX emission is not implemented yet\n")
}
