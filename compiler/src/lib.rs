pub mod diagnostic;
pub mod ir;
pub mod passes;
pub mod span;
pub mod syntax;
