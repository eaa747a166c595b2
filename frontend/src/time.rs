//! Formatting server timestamps (Unix milliseconds) for display in local time.

/// `HH:MM` in the browser's time zone (UTC when not running in a browser).
pub fn local_hhmm(ts_ms: u64) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts_ms as f64));
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let minutes = (ts_ms / 60_000) % (24 * 60);
        format!("{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

/// The machine-readable `datetime` attribute (ISO 8601, UTC).
pub fn iso(ts_ms: u64) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts_ms as f64));
        String::from(date.to_iso_string())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = ts_ms;
        String::new()
    }
}

/// A full local date and time for the tooltip.
pub fn local_full(ts_ms: u64) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts_ms as f64));
        String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        local_hhmm(ts_ms)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_hours_and_minutes() {
        // 2023-11-14T22:13:20Z
        assert_eq!(super::local_hhmm(1_700_000_000_000), "22:13");
    }
}
