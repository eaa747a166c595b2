//! Fuzzes the decoding of client messages: whatever bytes arrive, decoding
//! never panics, and a message that decodes encodes back to JSON that decodes to
//! the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(msg) = parley_common::decode_client(text) {
        let json = serde_json::to_string(&msg).expect("a decoded message encodes");
        let again = parley_common::decode_client(&json).expect("its encoding decodes");
        assert_eq!(again, msg);
    }
});
