//! Event patterns: compile arbitrary JSON as a pattern (and as a detection catalog), match it
//! against arbitrary JSON events.
//!
//! Input: pattern text, a 0xFF byte (never part of UTF-8 JSON), event text.
//! Oracles: never a panic; a compiled pattern round-trips through serde; a match implies
//! that the required top-level fields are present and that the field the detection index
//! keys on (`eventName`, `eventSource`) holds one of the required strings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use trailwarden::detect::Catalog;
use trailwarden::pattern::Pattern;

fn holds_one_of(v: Option<&Value>, set: &std::collections::BTreeSet<String>) -> bool {
    match v {
        Some(Value::String(s)) => set.contains(s),
        Some(Value::Array(a)) => a.iter().any(|x| holds_one_of(Some(x), set)),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let (pattern_text, event_text) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{}"[..]),
    };
    let Ok(pattern_text) = std::str::from_utf8(pattern_text) else {
        return;
    };
    // The same text as a user detection file (errors must name what is wrong).
    if let Err(e) = Catalog::from_json(pattern_text, "fuzz.json") {
        assert!(!e.to_string().is_empty());
    }
    let pattern = match Pattern::parse(pattern_text) {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let _ = (pattern.field_paths(), pattern.top_level_fields());
    let json = serde_json::to_string(&pattern).expect("a pattern serialises");
    let again: Pattern = serde_json::from_str(&json).expect("a serialised pattern compiles");
    assert_eq!(again, pattern);

    let Ok(event) = serde_json::from_slice::<Value>(event_text) else {
        return;
    };
    let matched = pattern.matches(&event);
    assert_eq!(again.matches(&event), matched);
    if let Value::Object(map) = &event {
        assert_eq!(pattern.matches_map(map), matched);
    }
    if !matched {
        return;
    }
    if let Value::Object(map) = &event {
        for f in pattern.required_top_level_fields() {
            assert!(map.contains_key(&f), "matched without required field {f}");
        }
        for key in ["eventName", "eventSource"] {
            if let Some(set) = pattern.required_strings(&[key]) {
                assert!(
                    holds_one_of(map.get(key), &set),
                    "matched with {key} = {:?}, outside {set:?}",
                    map.get(key)
                );
            }
        }
    }
});
