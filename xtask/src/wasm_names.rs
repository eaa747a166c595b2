//! Shortens the names the wasm module and its JS glue know each other by.
//!
//! wasm-bindgen names each import after the JS function it binds plus a hash
//! (`__wbg_set_method_639e69af35614d36`) and each closure shim after its Rust
//! type, and every import repeats the module name (`./parley-frontend_bg.js`).
//! Those names are written twice, in the wasm's import and export sections and
//! in the glue, and the hashes do not compress: 166 imports, ~9 KB of names.
//! Here both sides get short names (`a`, `b`, …): −6 KB gzip of the first
//! download (frontend/README.md, "Size").
//!
//! The wasm side is exact: only the import and export sections are rewritten,
//! every other section is copied byte for byte (nothing else refers to these
//! names). The JS side is text, so a name is only renamed where the glue's use of
//! it is unambiguous: an import name or a module name that occurs exactly once,
//! an export that is only ever read as a property (`.name`). Any other name
//! keeps its long form on both sides.

use std::collections::HashMap;

use crate::ctx::Error;

const IMPORT_SECTION: u8 = 2;
const EXPORT_SECTION: u8 = 7;

/// The import and export names of a wasm module.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Names {
    /// (module, name), in the module's order.
    pub imports: Vec<(String, String)>,
    pub exports: Vec<String>,
}

/// Old name → new name, per kind. A name missing from a map keeps its name.
#[derive(Debug, Default)]
pub struct Renames {
    pub modules: HashMap<String, String>,
    pub imports: HashMap<String, String>,
    pub exports: HashMap<String, String>,
}

/// Shortens the names in `wasm` and `js` together; returns the new wasm and JS
/// and how many names changed.
pub fn shorten(wasm: &[u8], js: &str) -> Result<(Vec<u8>, String, usize), Error> {
    let names = list(wasm)?;
    let renames = plan(&names, js);
    let count = renames.modules.len() + renames.imports.len() + renames.exports.len();
    let wasm = rewrite(wasm, &renames)?;
    let js = rename_in_js(js, &renames);
    Ok((wasm, js, count))
}

/// Which names can be shortened, judged by how the glue uses them.
pub fn plan(names: &Names, js: &str) -> Renames {
    let mut short = ShortNames::default();
    let mut renames = Renames::default();
    let mut seen = std::collections::HashSet::new();
    for (module, _) in &names.imports {
        if !seen.insert(module) {
            continue;
        }
        let quoted = |q: char| js.matches(&format!("{q}{module}{q}")).count();
        if quoted('"') + quoted('\'') == 1 && js.matches(module).count() == 1 {
            renames.modules.insert(module.to_owned(), short.next());
        }
    }
    // Import names are looked up per module; each new name is unique anyway.
    let mut imports = ShortNames::default();
    for (_, name) in &names.imports {
        if word_positions(js, name).len() == 1 && !renames.imports.contains_key(name) {
            renames.imports.insert(name.clone(), imports.next());
        }
    }
    let mut exports = ShortNames::default();
    for name in &names.exports {
        let uses = word_positions(js, name);
        let all_properties = uses.iter().all(|&at| js[..at].ends_with('.'));
        if !uses.is_empty() && all_properties {
            renames.exports.insert(name.clone(), exports.next());
        }
    }
    renames
}

/// `a` … `z`, `A` … `Z`, then `aa`, `ab`, …: JS identifiers, never a keyword
/// that matters here (they are only object keys and property names).
#[derive(Default)]
struct ShortNames(usize);

impl ShortNames {
    fn next(&mut self) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut n = self.0;
        self.0 += 1;
        let mut name = Vec::new();
        loop {
            name.push(ALPHABET[n % ALPHABET.len()]);
            n /= ALPHABET.len();
            if n == 0 {
                break;
            }
            n -= 1;
        }
        name.reverse();
        String::from_utf8_lossy(&name).into_owned()
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

/// Where `word` occurs in `text` as a whole identifier.
fn word_positions(text: &str, word: &str) -> Vec<usize> {
    text.match_indices(word)
        .filter(|&(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + word.len()..].chars().next();
            !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
        })
        .map(|(at, _)| at)
        .collect()
}

fn replace_words(text: &str, word: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for at in word_positions(text, word) {
        out.push_str(&text[last..at]);
        out.push_str(with);
        last = at + word.len();
    }
    out.push_str(&text[last..]);
    out
}

fn rename_in_js(js: &str, renames: &Renames) -> String {
    let mut js = js.to_owned();
    for (old, new) in &renames.modules {
        js = js.replacen(old.as_str(), new, 1);
    }
    for (old, new) in renames.imports.iter().chain(&renames.exports) {
        js = replace_words(&js, old, new);
    }
    js
}

/// A cursor over a wasm binary.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, Error> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| Error::new("wasm: unexpected end"))?;
        self.at += 1;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, Error> {
        let mut value: u32 = 0;
        for shift in (0..35).step_by(7) {
            let b = self.byte()?;
            value |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::new("wasm: LEB128 number too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| Error::new("wasm: unexpected end"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn name(&mut self) -> Result<&'a str, Error> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| Error::new("wasm: a name is not UTF-8"))
    }

    /// The bytes of one import's description (what is imported), as they are.
    fn import_desc(&mut self) -> Result<&'a [u8], Error> {
        let start = self.at;
        match self.byte()? {
            // function: type index
            0x00 => {
                self.u32()?;
            }
            // table: reference type, limits
            0x01 => {
                self.byte()?;
                self.limits()?;
            }
            // memory: limits
            0x02 => self.limits()?,
            // global: value type, mutability
            0x03 => {
                self.take(2)?;
            }
            // tag: attribute, type index
            0x04 => {
                self.byte()?;
                self.u32()?;
            }
            kind => return Err(Error::new(format!("wasm: unknown import kind {kind}"))),
        }
        Ok(&self.bytes[start..self.at])
    }

    fn limits(&mut self) -> Result<(), Error> {
        let flags = self.byte()?;
        self.u32()?;
        if flags & 1 != 0 {
            self.u32()?;
        }
        Ok(())
    }
}

fn push_u32(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let b = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn push_name(out: &mut Vec<u8>, name: &str) {
    push_u32(out, name.len() as u32);
    out.extend_from_slice(name.as_bytes());
}

/// Calls `section` for each section: its id and payload.
fn sections<'a>(
    wasm: &'a [u8],
    mut section: impl FnMut(u8, &'a [u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    if wasm.get(..8) != Some(b"\0asm\x01\0\0\0".as_slice()) {
        return Err(Error::new("not a wasm module (version 1)"));
    }
    let mut r = Reader { bytes: wasm, at: 8 };
    while r.at < wasm.len() {
        let id = r.byte()?;
        let len = r.u32()? as usize;
        section(id, r.take(len)?)?;
    }
    Ok(())
}

/// The import and export names of `wasm`.
pub fn list(wasm: &[u8]) -> Result<Names, Error> {
    let mut names = Names::default();
    sections(wasm, |id, payload| {
        let mut r = Reader {
            bytes: payload,
            at: 0,
        };
        match id {
            IMPORT_SECTION => {
                for _ in 0..r.u32()? {
                    let module = r.name()?.to_owned();
                    let name = r.name()?.to_owned();
                    r.import_desc()?;
                    names.imports.push((module, name));
                }
            }
            EXPORT_SECTION => {
                for _ in 0..r.u32()? {
                    names.exports.push(r.name()?.to_owned());
                    r.byte()?;
                    r.u32()?;
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(names)
}

/// `wasm` with its import and export sections renamed by `renames`; every
/// other section as it was.
pub fn rewrite(wasm: &[u8], renames: &Renames) -> Result<Vec<u8>, Error> {
    let pick = |map: &HashMap<String, String>, name: &str| -> String {
        map.get(name).cloned().unwrap_or_else(|| name.to_owned())
    };
    let mut out = wasm[..8.min(wasm.len())].to_vec();
    sections(wasm, |id, payload| {
        let mut r = Reader {
            bytes: payload,
            at: 0,
        };
        let mut body = Vec::with_capacity(payload.len());
        match id {
            IMPORT_SECTION => {
                let count = r.u32()?;
                push_u32(&mut body, count);
                for _ in 0..count {
                    let module = r.name()?;
                    let name = r.name()?;
                    push_name(&mut body, &pick(&renames.modules, module));
                    push_name(&mut body, &pick(&renames.imports, name));
                    body.extend_from_slice(r.import_desc()?);
                }
            }
            EXPORT_SECTION => {
                let count = r.u32()?;
                push_u32(&mut body, count);
                for _ in 0..count {
                    let name = r.name()?;
                    push_name(&mut body, &pick(&renames.exports, name));
                    body.push(r.byte()?);
                    push_u32(&mut body, r.u32()?);
                }
            }
            _ => body.extend_from_slice(payload),
        }
        if r.at != 0 && r.at != payload.len() {
            return Err(Error::new(format!("wasm: section {id} has trailing bytes")));
        }
        out.push(id);
        push_u32(&mut out, body.len() as u32);
        out.extend_from_slice(&body);
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module importing `f` from `m` and a memory, exporting `memory` and `run`.
    fn module(m: &str, f: &str, run: &str) -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        // type section: one type, () -> ()
        wasm.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]);
        let mut imports = vec![2];
        push_name(&mut imports, m);
        push_name(&mut imports, f);
        imports.extend_from_slice(&[0x00, 0]);
        push_name(&mut imports, m);
        push_name(&mut imports, "mem");
        imports.extend_from_slice(&[0x02, 0x01, 1, 2]);
        wasm.push(IMPORT_SECTION);
        push_u32(&mut wasm, imports.len() as u32);
        wasm.extend_from_slice(&imports);
        let mut exports = vec![2];
        push_name(&mut exports, "memory");
        exports.extend_from_slice(&[0x02, 0]);
        push_name(&mut exports, run);
        exports.extend_from_slice(&[0x00, 0]);
        wasm.push(EXPORT_SECTION);
        push_u32(&mut wasm, exports.len() as u32);
        wasm.extend_from_slice(&exports);
        wasm
    }

    #[test]
    fn short_names_are_distinct_identifiers() {
        let mut short = ShortNames::default();
        let names: Vec<String> = (0..3000).map(|_| short.next()).collect();
        assert_eq!(names[0], "a");
        assert_eq!(names[51], "Z");
        assert_eq!(names[52], "aa");
        let unique: std::collections::HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_alphabetic()))
        );
    }

    #[test]
    fn names_are_read_and_renamed_and_everything_else_is_kept() {
        let wasm = module(
            "./app_bg.js",
            "__wbg_log_0123456789abcdef",
            "__wbindgen_start",
        );
        let names = list(&wasm).unwrap();
        assert_eq!(
            names.imports,
            vec![
                ("./app_bg.js".into(), "__wbg_log_0123456789abcdef".into()),
                ("./app_bg.js".into(), "mem".into())
            ]
        );
        assert_eq!(
            names.exports,
            vec!["memory".to_owned(), "__wbindgen_start".into()]
        );

        let js = "const i={__proto__:null,__wbg_log_0123456789abcdef:function(e){console.log(e)}};\
                  return{\"./app_bg.js\":i};L.__wbindgen_start();L.memory.buffer;let memory=1;";
        let renames = plan(&names, js);
        // `mem` is not in the glue, `memory` is also a variable: both keep their names.
        assert_eq!(
            renames.modules.get("./app_bg.js").map(String::as_str),
            Some("a")
        );
        assert_eq!(renames.imports.len(), 1);
        assert_eq!(renames.exports.len(), 1);

        let (new_wasm, new_js, count) = shorten(&wasm, js).unwrap();
        assert_eq!(count, 3);
        assert_eq!(
            new_js,
            "const i={__proto__:null,a:function(e){console.log(e)}};\
             return{\"a\":i};L.a();L.memory.buffer;let memory=1;"
        );
        let renamed = list(&new_wasm).unwrap();
        assert_eq!(
            renamed.imports,
            vec![("a".into(), "a".into()), ("a".into(), "mem".into())]
        );
        assert_eq!(renamed.exports, vec!["memory".to_owned(), "a".into()]);
        // The type section before them is untouched.
        assert_eq!(new_wasm[..14], wasm[..14]);
        // Renaming back gives the original bytes.
        let back = Renames {
            modules: [("a".into(), "./app_bg.js".into())].into(),
            imports: [("a".into(), "__wbg_log_0123456789abcdef".into())].into(),
            exports: [("a".into(), "__wbindgen_start".into())].into(),
        };
        assert_eq!(rewrite(&new_wasm, &back).unwrap(), wasm);
    }

    #[test]
    fn a_damaged_module_is_an_error_not_a_panic() {
        let wasm = module("m", "f", "run");
        for cut in [0, 4, 9, 12, wasm.len() - 1] {
            assert!(list(&wasm[..cut]).is_err(), "cut at {cut}");
        }
        assert!(list(b"not wasm at all").is_err());
    }
}
