//! The ploomes benchmark (work in progress).

fn main() {}
