//! What cowlab's TOML files (sweeps, fault plans, topologies) share: one error that names
//! the file, the line, the key and the value, the reading of a TOML error into it, and the
//! writing of a string back as TOML.

use std::fmt;
use std::ops::Range;

/// A refused file: where, which key, which value, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    pub file: String,
    /// From 1; 0 for what did not come from a file (a preset, a value built in code).
    pub line: usize,
    /// The dotted key, or empty when the line is not a key's (then `value` quotes it).
    pub key: String,
    pub value: String,
    pub reason: String,
}

impl FileError {
    /// An error not tied to a line of a file.
    pub fn unplaced(file: &str, key: String, value: String, reason: &str) -> Self {
        FileError {
            file: file.to_string(),
            line: 0,
            key,
            value,
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: ", self.file)?,
            n => write!(f, "{} line {n}: ", self.file)?,
        }
        match (self.key.is_empty(), self.value.is_empty()) {
            (true, true) => f.write_str(&self.reason),
            (true, false) => write!(f, "'{}': {}", self.value, self.reason),
            (false, _) => write!(f, "key {} = {}: {}", self.key, self.value, self.reason),
        }
    }
}

impl std::error::Error for FileError {}

/// The text of a file, to point at its lines.
#[derive(Clone, Copy)]
pub struct SourceText<'a> {
    pub text: &'a str,
    pub file: &'a str,
}

impl<'a> SourceText<'a> {
    pub fn new(text: &'a str, file: &'a str) -> Self {
        SourceText { text, file }
    }

    /// The line (from 1) of a byte offset.
    pub fn line(&self, at: usize) -> usize {
        self.text.as_bytes()[..at.min(self.text.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    /// Where the line holding a byte offset starts, and its text, trimmed.
    fn line_at(&self, at: usize) -> (usize, &'a str) {
        let start = self.text.as_bytes()[..at.min(self.text.len())]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        (
            start,
            self.text[start..].lines().next().unwrap_or("").trim(),
        )
    }

    /// An error at a value's place, quoting the value as written.
    pub fn at(&self, span: Range<usize>, key: &str, reason: impl ToString) -> FileError {
        FileError {
            file: self.file.to_string(),
            line: self.line(span.start),
            key: key.to_string(),
            value: self.text.get(span).unwrap_or("").trim().to_string(),
            reason: reason.to_string(),
        }
    }

    /// A TOML error: when it is about a key or a value (unknown, of the wrong type, missing),
    /// the key is read off the file at the error's place; a line that is not TOML at all is
    /// quoted whole.
    pub fn toml_error(&self, e: &toml::de::Error) -> FileError {
        let span = e.span().unwrap_or(0..0);
        let mut err = self.at(span.clone(), "", plain_words(e.message()));
        let about_a_key = [
            "unknown field",
            "invalid type",
            "invalid value",
            "invalid length",
            "missing field",
            "data did not match",
        ]
        .iter()
        .any(|m| e.message().starts_with(m));
        let (start, here) = self.line_at(span.start);
        match about_a_key {
            true => err.key = self.key_at(start, here),
            false => err.value = here.to_string(),
        }
        // An unknown key points at its name: show the value written after it instead.
        let at_the_name = about_a_key && err.key.rsplit('.').next() == Some(err.value.as_str());
        if at_the_name {
            if let Some((_, v)) = here.split_once('=') {
                err.value = v.trim().to_string();
            }
        }
        if err.value.is_empty() {
            err.value = here.to_string();
        }
        err
    }

    /// The dotted key on the line starting at `start`: the last table header above (or on)
    /// that line, and the line's own key (or a bare name on a line of its own: an unknown
    /// key, or an item of a list).
    fn key_at(&self, start: usize, here: &str) -> String {
        let header = self.text[..start]
            .lines()
            .chain([here])
            .filter_map(|l| l.trim().strip_prefix('['))
            .next_back()
            .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        let key = match here.split_once('=') {
            Some((k, _)) if !here.starts_with('[') => k.trim(),
            None if !here.starts_with('[') && !here.starts_with('"') => here.trim_end_matches(','),
            _ => "",
        };
        match (header, key) {
            (Some(h), "") => h,
            (Some(h), k) => format!("{h}.{k}"),
            (None, k) => k.to_string(),
        }
    }
}

/// A type error of the TOML reader in the words of the file ("expected a number"), not of
/// the Rust type behind it ("expected f64", "expected struct CostFile"); other messages are
/// kept.
fn plain_words(message: &str) -> String {
    let Some(expected) = message
        .strip_prefix("invalid type: ")
        .and_then(|m| m.rsplit_once(", expected "))
        .map(|(_, e)| e)
    else {
        return message.to_string();
    };
    let words = match expected.trim() {
        e if e.starts_with("struct ") || e == "a map" => "a table",
        "f64" | "f32" => "a number",
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)",
        "i8" | "i16" | "i32" | "i64" => "a whole number",
        "a sequence" => "a list in brackets, [...]",
        "a boolean" | "bool" => "true or false",
        "a string" | "string" => "a string in quotes",
        e => e,
    };
    format!("expected {words}")
}

/// `text` as a TOML basic string. Rust's `{:?}` is not one: it writes `\u{85}` for a
/// character TOML takes as it is, and `\u{7f}` where TOML wants `\u007F`.
pub fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push('\t'),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_line_key_and_value() {
        let text = "a = 1\n[t]\nb = \"x\"\n";
        let d = SourceText::new(text, "f.toml");
        let at = text.find("\"x\"").unwrap();
        let e = d.at(at..at + 3, "t.b", "no good");
        assert_eq!(e.to_string(), "f.toml line 3: key t.b = \"x\": no good");
        let e = FileError::unplaced("preset", "k".into(), "v".into(), "why");
        assert_eq!(e.to_string(), "preset: key k = v: why");
    }

    #[test]
    fn a_toml_error_names_the_key_or_quotes_the_line() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct F {
            n: u32,
        }
        let text = "n = \"seven\"\n";
        let e = toml::from_str::<F>(text).unwrap_err();
        let e = SourceText::new(text, "f.toml").toml_error(&e);
        assert_eq!((e.line, e.key.as_str()), (1, "n"));
        let text = "n = 1\nthis is not toml\n";
        let e = toml::from_str::<F>(text).unwrap_err();
        let e = SourceText::new(text, "f.toml").toml_error(&e);
        assert_eq!((e.line, e.value.as_str()), (2, "this is not toml"));
    }

    #[test]
    fn a_type_error_is_worded_as_the_file_is_written() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            x: u8,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct F {
            n: Option<u32>,
            f: Option<f64>,
            t: Option<Inner>,
            l: Option<Vec<String>>,
        }
        for (text, words) in [
            ("n = 1.5", "expected a whole number (0 or more)"),
            ("f = \"x\"", "expected a number"),
            ("t = 5", "expected a table"),
            ("l = \"a\"", "expected a list in brackets, [...]"),
        ] {
            let e = toml::from_str::<F>(text).unwrap_err();
            let e = SourceText::new(text, "f.toml").toml_error(&e);
            assert_eq!(e.reason, words, "{text}");
        }
    }

    #[test]
    fn strings_are_written_as_toml_reads_them() {
        for s in [
            "plain",
            "quote \" and \\",
            "tab\there",
            "\u{85} next line",
            "\u{7f}",
        ] {
            let text = format!("v = {}\n", toml_string(s));
            let back: toml::Table = toml::from_str(&text).unwrap();
            assert_eq!(back["v"].as_str(), Some(s), "{text}");
        }
    }
}
