//! ploomes connector tests (work in progress).
