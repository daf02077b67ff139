//! The compiled-graph cache's `meta.json` checks on arbitrary bytes (a cache directory is
//! writable by whoever runs the service, and may be shared). Must never panic, and whatever
//! passes names only the parts a split makes: no path outside the entry.
#![no_main]

use indextts::model::graph_cache::check_meta;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parts) = check_meta(data) {
        assert!(parts.len() <= 66, "{} parts", parts.len());
        // A graph run whole (Kokoro's) is one file and nothing else.
        if parts.iter().any(|p| p == "model") {
            assert_eq!(parts, ["model"]);
            return;
        }
        for part in parts {
            assert!(
                part == "flow"
                    || part == "vocoder"
                    || part == "acoustic"
                    || part
                        .strip_prefix("prior-")
                        .is_some_and(|k| k.parse::<usize>().is_ok()),
                "{part:?}"
            );
        }
    }
});
