//! "Did you mean …?": the closest of a set of names to a misspelt one, for every error that
//! names something unknown (connectors, manifest keys, pools, environment variables).

/// The candidate closest to `target`, if it is close enough to be a likely typo.
///
/// Compares without regard to case, by normalised Damerau-Levenshtein similarity (one edit in
/// a seven-letter word still counts, two in a four-letter word do not); a single edit or swap
/// counts for any name of three letters or more. Ties go to the first.
pub fn closest<'a>(target: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    const THRESHOLD: f64 = 0.75;
    let target = target.to_ascii_uppercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        let upper = candidate.to_ascii_uppercase();
        let mut score = strsim::normalized_damerau_levenshtein(&target, &upper);
        if target.len() >= 3 && strsim::damerau_levenshtein(&target, &upper) == 1 {
            score = score.max(THRESHOLD);
        }
        if score >= THRESHOLD && best.is_none_or(|(top, _)| score > top) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn closest_suggests_only_near_misses() {
        let names = ["C7_USER", "PLOOME_API_KEY", "ZOHO_CLIENT_ID"];
        assert_eq!(closest("PLOOMES_API_KEY", names), Some("PLOOME_API_KEY"));
        assert_eq!(closest("plomes", ["ploomes", "zoho"]), Some("ploomes"));
        assert_eq!(closest("timout", ["timeout", "tables"]), Some("timeout"));
        assert_eq!(closest("kti", ["kit", "zoho"]), Some("kit"));
        assert_eq!(closest("C7_PASS", names), None);
        assert_eq!(closest("PORTAL_KEY", names), None);
        assert_eq!(closest("x", ["y"]), None);
        assert_eq!(closest("ab", ["ba"]), None);
    }
}
