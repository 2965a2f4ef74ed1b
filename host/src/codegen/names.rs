//! Identifiers and literals the emitters share: words, case conversions, unique names,
//! doc lines, string literals per language, and which JSON keys every language can carry.

use std::collections::BTreeSet;

use serde_json::Value;

/// A string as a JSON literal; also an exact string literal in TypeScript and Python (every
/// JSON escape means the same there, and JSON escapes every control character). Go uses
/// [`go_string`]: a Go file may not hold a byte order mark anywhere.
pub(crate) fn json_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// A string as a Go interpreted string literal: `\\`, `\"`, the usual control escapes, and
/// `\uXXXX` for every other control character and for U+FEFF, which the Go compiler refuses
/// anywhere in a file ("illegal byte order mark"), even inside a literal.
pub(crate) fn go_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Punctuation Go's `encoding/json` accepts in a struct tag's name (besides letters and digits).
const TAG_PUNCTUATION: &str = "!#$%&()*+-./:;<=>?@[]^_{|}~ ";

/// Whether `key` can be a struct field's JSON key in every target language exactly.
///
/// TypeScript and Python carry any key exactly (a quoted property, a pydantic alias, both
/// through [`json_string`]); Go cannot: the key sits in a struct tag, a raw string literal
/// that a backtick would end, and `encoding/json` ignores a tag name holding anything but
/// letters, digits and [`TAG_PUNCTUATION`] (a quote, backslash, comma, control character,
/// an empty key...), silently using the Go field name instead. Letters and digits are taken
/// in ASCII only, where Go's and Rust's Unicode tables cannot disagree.
pub(crate) fn portable_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || TAG_PUNCTUATION.contains(c))
}


/// Splits on anything not alphanumeric and before an upper-case letter that follows a
/// lower-case one or a digit: `terminal.input` -> [terminal, input], `EchoParams` -> [Echo, Params].
pub(crate) fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            prev = None;
            continue;
        }
        if c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit()) && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        current.push(c);
        prev = Some(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `terminal.input` -> `TerminalInput` (an identifier in every target language).
pub(crate) fn pascal(s: &str) -> String {
    let joined: String = words(s).iter().map(|w| capitalize(w)).collect();
    let ascii: String = joined.chars().filter(char::is_ascii_alphanumeric).collect();
    match ascii.chars().next() {
        None => "Type".to_string(),
        Some(c) if c.is_ascii_digit() => format!("T{ascii}"),
        Some(_) => ascii,
    }
}

/// `terminal.input` -> `terminalInput`.
pub(crate) fn camel(s: &str) -> String {
    let words = words(s);
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if i == 0 {
            out.push_str(&w.to_lowercase());
        } else {
            out.push_str(&capitalize(w));
        }
    }
    let ascii: String = out.chars().filter(char::is_ascii_alphanumeric).collect();
    match ascii.chars().next() {
        None => "method".to_string(),
        Some(c) if c.is_ascii_digit() => format!("m{ascii}"),
        Some(_) => ascii,
    }
}

/// `terminal.input` -> `terminal_input`.
pub(crate) fn snake(s: &str) -> String {
    let joined = words(s).iter().map(|w| w.to_lowercase()).collect::<Vec<_>>().join("_");
    let ascii: String = joined.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    match ascii.chars().next() {
        None => "method".to_string(),
        Some(c) if c.is_ascii_digit() => format!("m_{ascii}"),
        Some(_) => ascii,
    }
}

/// Picks `name`, or `name` with `suffix` repeated (then a number) until unused.
pub(crate) fn unique_ident(name: String, used: &mut BTreeSet<String>, suffix: &str) -> String {
    if used.insert(name.clone()) {
        return name;
    }
    let with_suffix = format!("{name}{suffix}");
    if used.insert(with_suffix.clone()) {
        return with_suffix;
    }
    let mut n = 2;
    loop {
        let candidate = format!("{name}{n}");
        if used.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

/// Lines of a doc string, trailing spaces removed.
pub(crate) fn doc_lines(doc: &str) -> Vec<String> {
    doc.lines().map(|l| l.trim_end().to_string()).collect()
}

