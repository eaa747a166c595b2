//! Client message ids: a random per-tab prefix plus a counter, so ids never repeat
//! within a tab and practically never collide between tabs.

use parley_common::ClientMsgId;

#[derive(Debug, Clone)]
pub struct ClientIdGen {
    prefix: String,
    next: u64,
}

impl ClientIdGen {
    /// A generator whose ids start with `prefix` (which should be ASCII letters,
    /// digits, `-` or `_`, and short).
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            next: 1,
        }
    }

    /// A generator with a random 16-hex-digit prefix (from `Math.random()` in the
    /// browser; from the clock elsewhere, where it only matters that it compiles).
    pub fn random() -> Self {
        #[cfg(target_arch = "wasm32")]
        let part = || (js_sys::Math::random() * 4_294_967_296.0) as u32;
        #[cfg(not(target_arch = "wasm32"))]
        let part = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        };
        // Math.random() has at least 32 good bits per call; two calls give 64.
        Self::with_prefix(format!("{:08x}{:08x}", part(), part()))
    }

    /// The next id: `{prefix}-{counter}`. `None` only if the prefix is unusable.
    pub fn next_id(&mut self) -> Option<ClientMsgId> {
        let id = ClientMsgId::parse(&format!("{}-{}", self.prefix, self.next)).ok()?;
        self.next += 1;
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_distinct() {
        let mut ids = ClientIdGen::with_prefix("0123456789abcdef");
        let a = ids.next_id().unwrap();
        let b = ids.next_id().unwrap();
        assert_eq!(a.as_str(), "0123456789abcdef-1");
        assert_eq!(b.as_str(), "0123456789abcdef-2");
    }

    #[test]
    fn a_bad_prefix_yields_no_id() {
        assert_eq!(ClientIdGen::with_prefix("a/b").next_id(), None);
    }
}
