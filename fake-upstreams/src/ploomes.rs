//! A fake Ploomes API (work in progress).
