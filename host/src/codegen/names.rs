//! Identifiers and literals the emitters share: words, case conversions, unique names,
//! doc lines, and JSON string literals.

use std::collections::BTreeSet;

use serde_json::Value;

/// A string as a JSON literal; also a valid string literal in TypeScript, Go and Python.
pub(crate) fn json_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
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

