//! The ploomes connector (work in progress).
