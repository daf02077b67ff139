//! The compiled-graph cache's `meta.json` checks on arbitrary bytes (a cache directory is
//! writable by whoever runs the service, and may be shared). Must never panic, and whatever
//! passes names only the parts a split makes: no path outside the entry.
#![no_main]

use indextts::model::graph_cache::check_meta;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parts) = check_meta(data) {
        // At most 64 pieces of the prior or the acoustic model, the flow, and 64 of the vocoder.
        assert!(parts.len() <= 129, "{} parts", parts.len());
        // A graph run whole (Kokoro's) is one file and nothing else.
        if parts.iter().any(|p| p == "model") {
            assert_eq!(parts, ["model"]);
            return;
        }
        for part in parts {
            let piece = ["prior-", "acoustic-", "vocoder-"].iter().any(|prefix| {
                part.strip_prefix(prefix)
                    .is_some_and(|k| k.parse::<usize>().is_ok())
            });
            assert!(
                piece || part == "flow" || part == "vocoder" || part == "acoustic",
                "{part:?}"
            );
        }
    }
});
