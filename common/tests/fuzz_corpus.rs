//! Replays the fuzzer's corpus (fuzz/corpus/decode_client, seeds plus what
//! `cargo xtask fuzz` found interesting) as an ordinary test on stable: every
//! input decodes or is refused with a typed error, never a panic, and what
//! decodes round-trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

#[test]
fn the_fuzz_corpus_decodes_or_is_refused_without_panicking() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/decode_client");
    let mut inputs = 0;
    let mut decoded = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus directory") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        inputs += 1;
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        match parley_common::decode_client(text) {
            Ok(msg) => {
                decoded += 1;
                let json = serde_json::to_string(&msg).unwrap();
                let again = parley_common::decode_client(&json).unwrap_or_else(|e| {
                    panic!("{}: re-encoded form refused: {e:?}", path.display())
                });
                assert_eq!(again, msg, "{}", path.display());
            }
            Err(err) => assert!(!err.message.is_empty(), "{}", path.display()),
        }
    }
    assert!(inputs >= 25, "the corpus has its seeds ({inputs} inputs)");
    assert!(decoded >= 15, "the valid seeds decode ({decoded} did)");
}
