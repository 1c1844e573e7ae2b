//! "Did you mean …?" for misspelt keys and values.

/// The candidate closest to `input`, if it is close enough to be a likely typo.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(&input_lower, &candidate.to_ascii_lowercase()), candidate))
        .filter(|(distance, candidate)| *distance <= typo_budget(input.len().max(candidate.len())))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// How many edits still look like a typo rather than a different word.
fn typo_budget(length: usize) -> usize {
    match length {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_only_near_misses() {
        let keys = ["replicas", "listen", "region", "resources", "requires"];
        let cases = [
            ("replcas", Some("replicas")),
            ("replicsa", Some("replicas")),
            ("Listen", Some("listen")),
            ("requirs", Some("requires")),
            ("command", None),
            ("x", None),
        ];
        for (input, expected) in cases {
            assert_eq!(closest(input, keys), expected, "{input}");
        }
    }
}
