//! Request bodies that are not JSON: HTML form fields (`application/x-www-form-urlencoded`,
//! query strings) and `multipart/form-data`, turned into the JSON object the engine takes.
//!
//! Field names follow PHP's convention, which the vendor's clients use (`http_build_query`):
//! `auth[login]=admin` becomes `{"auth": {"login": "admin"}}` and `ids[]=1&ids[]=2` becomes
//! `{"ids": ["1", "2"]}`. Values stay strings; the engine's argument schema converts them.

use crate::limits::{form_depth_max, form_fields_max};
use serde_json::{Map, Value};

/// Why a form was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError(pub String);

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(msg: impl Into<String>) -> FormError {
    FormError(msg.into())
}

/// `a[b][]` as `("a", ["b", ""])`; a name whose brackets do not close is taken literally,
/// as PHP does.
fn split_name(name: &str) -> (&str, Vec<&str>) {
    let Some(open) = name.find('[') else {
        return (name, Vec::new());
    };
    let (base, mut rest) = name.split_at(open);
    let mut segments = Vec::new();
    while let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return (name, Vec::new());
        };
        segments.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    if !rest.is_empty() || base.is_empty() {
        return (name, Vec::new());
    }
    (base, segments)
}

/// Put `value` at `name` (PHP bracket syntax) inside `root`.
fn insert(root: &mut Map<String, Value>, name: &str, value: String) -> Result<(), FormError> {
    let (base, segments) = split_name(name);
    if segments.len() > form_depth_max {
        return Err(bad(format!(
            "field name nested too deeply: {}",
            short(name)
        )));
    }
    let Some((last, parents)) = segments.split_last() else {
        // A repeated plain name keeps the last value, as PHP does.
        root.insert(base.to_string(), Value::String(value));
        return Ok(());
    };
    let conflict = || {
        bad(format!(
            "field {} conflicts with another field",
            short(name)
        ))
    };
    let mut slot = root
        .entry(base.to_string())
        .or_insert_with(|| container_for(parents.first().unwrap_or(last)));
    for (i, seg) in parents.iter().enumerate() {
        let next = segments.get(i + 1).copied().unwrap_or_default();
        slot = child(slot, seg, next).ok_or_else(conflict)?;
    }
    match slot {
        Value::Array(items) if last.is_empty() => items.push(Value::String(value)),
        Value::Object(m) if !last.is_empty() => {
            m.insert((*last).to_string(), Value::String(value));
        }
        Value::Array(items) => {
            // `a[0]=x` after `a[]=y`: turn the list into an object keyed by position.
            let mut m: Map<String, Value> = std::mem::take(items)
                .into_iter()
                .enumerate()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            m.insert((*last).to_string(), Value::String(value));
            *slot = Value::Object(m);
        }
        Value::Object(m) => {
            let k = m.len().to_string();
            m.insert(k, Value::String(value));
        }
        _ => return Err(conflict()),
    }
    Ok(())
}

/// An empty container for a segment: `[]` appends to a list, a name keys an object.
fn container_for(seg: &str) -> Value {
    if seg.is_empty() {
        Value::Array(Vec::new())
    } else {
        Value::Object(Map::new())
    }
}

/// The container under `seg` inside `slot`, made if missing.
fn child<'a>(slot: &'a mut Value, seg: &str, next: &str) -> Option<&'a mut Value> {
    match slot {
        Value::Object(m) => {
            let key = if seg.is_empty() {
                m.len().to_string()
            } else {
                seg.to_string()
            };
            Some(m.entry(key).or_insert_with(|| container_for(next)))
        }
        Value::Array(items) if seg.is_empty() => {
            items.push(container_for(next));
            items.last_mut()
        }
        _ => None,
    }
}

fn short(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Fields given as (name, value) pairs, nested by PHP's bracket rule.
pub fn from_pairs<I>(pairs: I) -> Result<Map<String, Value>, FormError>
where
    I: IntoIterator<Item = (String, String)>,
{
    let mut root = Map::new();
    for (n, (name, value)) in pairs.into_iter().enumerate() {
        if n >= form_fields_max {
            return Err(bad(format!("more than {form_fields_max} form fields")));
        }
        insert(&mut root, &name, value)?;
    }
    Ok(root)
}

/// An `application/x-www-form-urlencoded` body or a query string.
pub fn urlencoded(bytes: &[u8]) -> Result<Map<String, Value>, FormError> {
    from_pairs(form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())))
}

/// The `boundary` parameter of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        // RFC 2046: 1 to 70 characters.
        (!v.is_empty() && v.len() <= 70).then(|| v.to_string())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The `name` parameter of a part's `Content-Disposition: form-data; name="..."`.
fn part_name(headers: &str) -> Option<String> {
    headers.split("\r\n").find_map(|line| {
        let (k, v) = line.split_once(':')?;
        if !k.trim().eq_ignore_ascii_case("content-disposition") {
            return None;
        }
        v.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("name")
                .then(|| v.trim().trim_matches('"').to_string())
        })
    })
}

/// A `multipart/form-data` body: every part becomes a field (its text is the value).
pub fn multipart(body: &[u8], boundary: &str) -> Result<Map<String, Value>, FormError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let body_start = if body.starts_with(delimiter) {
        0
    } else {
        // A preamble before the first delimiter is allowed and ignored.
        let mut with_crlf = b"\r\n".to_vec();
        with_crlf.extend_from_slice(delimiter);
        find(body, &with_crlf, 0).ok_or_else(|| bad("multipart body has no boundary"))? + 2
    };
    let mut next_delim = b"\r\n".to_vec();
    next_delim.extend_from_slice(delimiter);
    let mut pairs = Vec::new();
    let mut at = body_start + delimiter.len();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            break;
        }
        if !rest.starts_with(b"\r\n") {
            return Err(bad("multipart boundary not followed by a line break"));
        }
        let head_start = at + 2;
        let head_end = find(body, b"\r\n\r\n", head_start)
            .ok_or_else(|| bad("multipart part has no end of headers"))?;
        let headers = std::str::from_utf8(&body[head_start..head_end])
            .map_err(|_| bad("multipart part headers are not UTF-8"))?;
        let name = part_name(headers).ok_or_else(|| bad("multipart part has no name"))?;
        let value_start = head_end + 4;
        let value_end = find(body, &next_delim, value_start)
            .ok_or_else(|| bad("multipart body is cut short"))?;
        let value = std::str::from_utf8(&body[value_start..value_end]).map_err(|_| {
            bad(format!(
                "multipart field {} is not UTF-8 text",
                short(&name)
            ))
        })?;
        if pairs.len() >= form_fields_max {
            return Err(bad(format!("more than {form_fields_max} form fields")));
        }
        pairs.push((name, value.to_string()));
        at = value_end + next_delim.len();
    }
    from_pairs(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(text: &str) -> Value {
        Value::Object(urlencoded(text.as_bytes()).expect("form"))
    }

    #[test]
    fn php_brackets_nest() {
        assert_eq!(
            form("auth%5Blogin%5D=admin&auth[password]=p%26w&id_clients=11&__api=1"),
            json!({"auth": {"login": "admin", "password": "p&w"}, "id_clients": "11", "__api": "1"})
        );
        assert_eq!(form("ids[]=1&ids[]=2"), json!({"ids": ["1", "2"]}));
        assert_eq!(
            form("a[b][c]=1&a[b][d]=2"),
            json!({"a": {"b": {"c": "1", "d": "2"}}})
        );
        assert_eq!(form("a[][x]=1"), json!({"a": [{"x": "1"}]}));
        // Unclosed brackets are a literal name; a repeated plain name keeps the last value.
        assert_eq!(form("a[b=1&x=1&x=2"), json!({"a[b": "1", "x": "2"}));
        assert_eq!(form("[x]=1"), json!({"[x]": "1"}));
    }

    #[test]
    fn conflicting_shapes_are_refused() {
        assert!(urlencoded(b"a=1&a[b]=2").is_err());
        let deep = format!("a{}=1", "[x]".repeat(form_depth_max + 1));
        assert!(urlencoded(deep.as_bytes()).is_err());
        let many: String = (0..=form_fields_max).map(|i| format!("f{i}=1&")).collect();
        assert!(urlencoded(many.as_bytes()).is_err());
    }

    #[test]
    fn boundary_is_read() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"abc def\"").as_deref(),
            Some("abc def")
        );
        assert_eq!(
            boundary("multipart/form-data;charset=utf-8; BOUNDARY=x").as_deref(),
            Some("x")
        );
        assert_eq!(boundary("multipart/form-data"), None);
    }

    #[test]
    fn multipart_parts_become_fields() {
        let body = "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"params\"\r\n\r\n{\"i_account\": 7}\r\n--XyZ\r\ncontent-disposition: form-data; name=auth_info; filename=\"a.json\"\r\nContent-Type: application/json\r\n\r\nline1\r\nline2\r\n--XyZ--\r\n";
        assert_eq!(
            Value::Object(multipart(body.as_bytes(), "XyZ").expect("parts")),
            json!({"params": "{\"i_account\": 7}", "auth_info": "line1\r\nline2"})
        );
    }

    #[test]
    fn broken_multipart_is_refused() {
        let cut = "--b\r\nContent-Disposition: form-data; name=\"p\"\r\n\r\nvalue";
        assert!(multipart(cut.as_bytes(), "b").is_err());
        let nameless = "--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--";
        assert!(multipart(nameless.as_bytes(), "b").is_err());
        assert!(multipart(b"no boundary here", "b").is_err());
        let binary = b"--b\r\nContent-Disposition: form-data; name=\"p\"\r\n\r\n\xff\xfe\r\n--b--";
        assert!(multipart(binary, "b").is_err());
    }
}
