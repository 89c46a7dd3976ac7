//! XML-RPC text <-> `serde_json::Value`, for `/xmlrpc/` (docs/server.md, "/xmlrpc/").
//!
//! The parser refuses any DTD (so no entity can be declared, expanded or fetched) and any
//! entity reference but XML's five and character references; element nesting and
//! struct/array nesting are bounded (`limits::json_depth_max`, as for JSON). No recursion
//! runs on unbounded input: the tree is built with an explicit stack, and the conversion
//! that walks it recurses at most as deep as the element bound.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::{Map, Number, Value};
use std::fmt::Write as _;
use tollgate::limits;

/// Fault codes, after the XML-RPC fault-code interoperability convention (the same numbers as
/// JSON-RPC). Stable: clients test them.
pub const NOT_WELL_FORMED: i64 = -32700;
/// The body is neither UTF-8 nor declared ISO-8859-1.
pub const UNSUPPORTED_ENCODING: i64 = -32701;
/// Well-formed XML that is not an XML-RPC call (or too deep, or too large).
pub const INVALID_XMLRPC: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Not exactly one struct parameter.
pub const INVALID_PARAMS: i64 = -32602;
/// The engine failed to answer.
pub const INTERNAL_ERROR: i64 = -32603;

/// A refused request: the fault to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// One of the constants above.
    pub code: i64,
    /// Human-readable.
    pub message: String,
}

fn fault(code: i64, message: impl Into<String>) -> Fault {
    Fault {
        code,
        message: message.into(),
    }
}

/// The deepest element nesting accepted: a value nested `json_depth_max` deep takes three
/// elements a level (`struct`, `member`, `value`), plus the call's own five.
fn element_depth_max() -> usize {
    limits::json_depth_max * 3 + 8
}

#[derive(Debug, Default)]
struct Element {
    name: String,
    children: Vec<Element>,
    text: String,
}

/// The body as text: UTF-8, or ISO-8859-1 when the declaration says so (PHP's
/// `xmlrpc_encode_request` declares it by default).
fn decode(body: &[u8]) -> Result<String, Fault> {
    if let Ok(s) = std::str::from_utf8(body) {
        return Ok(s.to_string());
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(100)]).to_ascii_lowercase();
    let decl = head.split("?>").next().unwrap_or("");
    if head.starts_with("<?xml")
        && ["iso-8859-1", "latin1", "iso8859-1"]
            .iter()
            .any(|e| decl.contains(e))
    {
        return Ok(body.iter().map(|&b| char::from(b)).collect());
    }
    Err(fault(
        UNSUPPORTED_ENCODING,
        "the body is neither UTF-8 nor declared ISO-8859-1",
    ))
}

fn local_name(raw: &[u8]) -> String {
    let name = String::from_utf8_lossy(raw);
    // `ex:nil` (the Apache extension's namespace) is `nil`.
    match name.rsplit_once(':') {
        Some((_, local)) => local.to_string(),
        None => name.into_owned(),
    }
}

fn parse_tree(text: &str) -> Result<Element, Fault> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = vec![Element::default()];
    let malformed =
        |e: &dyn std::fmt::Display| fault(NOT_WELL_FORMED, format!("not well-formed XML: {e}"));
    loop {
        match reader.read_event() {
            Err(e) => return Err(malformed(&e)),
            Ok(Event::DocType(_)) => {
                return Err(fault(
                    NOT_WELL_FORMED,
                    "DTDs are refused (no entity is declared or expanded)",
                ))
            }
            Ok(Event::Start(s)) => {
                if stack.len() > element_depth_max() {
                    return Err(fault(INVALID_XMLRPC, "the XML is nested too deep"));
                }
                stack.push(Element {
                    name: local_name(s.name().as_ref()),
                    ..Element::default()
                });
            }
            Ok(Event::Empty(s)) => {
                let el = Element {
                    name: local_name(s.name().as_ref()),
                    ..Element::default()
                };
                if let Some(top) = stack.last_mut() {
                    top.children.push(el);
                }
            }
            Ok(Event::End(_)) => {
                // quick-xml checks that end tags match their start tags.
                let Some(el) = stack.pop() else {
                    return Err(malformed(&"unbalanced end tag"));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => return Err(malformed(&"unbalanced end tag")),
                }
            }
            Ok(Event::Text(t)) => {
                // Only XML's five entities and character references are known; any other
                // reference is an error, never a lookup.
                let s = t.unescape().map_err(|e| malformed(&e))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Ok(Event::CData(c)) => {
                let s = String::from_utf8_lossy(&c.into_inner()).into_owned();
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&s);
                }
            }
            Ok(Event::Eof) => break,
            // Declaration, comments, processing instructions.
            Ok(_) => {}
        }
    }
    if stack.len() != 1 {
        return Err(malformed(&"unclosed element"));
    }
    let mut doc = stack.pop().unwrap_or_default();
    if doc.children.len() != 1 || !doc.text.trim().is_empty() {
        return Err(malformed(&"not exactly one root element"));
    }
    Ok(doc.children.remove(0))
}

fn invalid(msg: impl Into<String>) -> Fault {
    fault(INVALID_XMLRPC, msg)
}

/// A `<value>` element as JSON. `depth` counts struct/array levels.
fn value_of(el: &Element, depth: usize) -> Result<Value, Fault> {
    let Some(typed) = el.children.first() else {
        // A bare `<value>text</value>` is a string.
        return Ok(Value::String(el.text.clone()));
    };
    if el.children.len() > 1 {
        return Err(invalid("a <value> holds one typed element"));
    }
    let text = typed.text.trim();
    Ok(match typed.name.as_str() {
        "string" => Value::String(typed.text.clone()),
        "int" | "i4" | "i8" => {
            let n: i64 = text
                .parse()
                .map_err(|_| invalid(format!("<{}> is not an integer: {text:?}", typed.name)))?;
            Value::from(n)
        }
        "boolean" => match text {
            "1" | "true" => Value::Bool(true),
            "0" | "false" => Value::Bool(false),
            _ => return Err(invalid("<boolean> is 0 or 1")),
        },
        // Kept exactly as written: an amount sent as a double is not rounded through f64.
        "double" => {
            let n: Number = text
                .parse()
                .ok()
                .filter(|_| text.parse::<f64>().is_ok_and(f64::is_finite))
                .ok_or_else(|| invalid(format!("<double> is not a number: {text:?}")))?;
            Value::Number(n)
        }
        "nil" => Value::Null,
        "dateTime.iso8601" => Value::String(iso8601(text)),
        // Passed on as its text: no method takes binary data.
        "base64" => Value::String(text.to_string()),
        "struct" => {
            if depth >= limits::json_depth_max {
                return Err(invalid("the value is nested too deep"));
            }
            let mut map = Map::new();
            for m in &typed.children {
                if m.name != "member" {
                    return Err(invalid("a <struct> holds <member>s"));
                }
                let name = m.children.iter().find(|c| c.name == "name");
                let value = m.children.iter().find(|c| c.name == "value");
                let (Some(name), Some(value)) = (name, value) else {
                    return Err(invalid("a <member> holds a <name> and a <value>"));
                };
                map.insert(name.text.clone(), value_of(value, depth + 1)?);
            }
            Value::Object(map)
        }
        "array" => {
            if depth >= limits::json_depth_max {
                return Err(invalid("the value is nested too deep"));
            }
            let data = match typed.children.as_slice() {
                [] => return Ok(Value::Array(Vec::new())),
                [d] if d.name == "data" => d,
                _ => return Err(invalid("an <array> holds one <data>")),
            };
            let mut items = Vec::with_capacity(data.children.len());
            for v in &data.children {
                if v.name != "value" {
                    return Err(invalid("<data> holds <value>s"));
                }
                items.push(value_of(v, depth + 1)?);
            }
            Value::Array(items)
        }
        other => return Err(invalid(format!("unknown XML-RPC type <{other}>"))),
    })
}

/// `20260115T10:00:00` (the compact form clients send) as `2026-01-15 10:00:00`; anything
/// else as it came.
fn iso8601(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 17 && b[8] == b'T' && b[..8].iter().all(u8::is_ascii_digit) {
        return format!("{}-{}-{} {}", &s[..4], &s[4..6], &s[6..8], &s[9..]);
    }
    s.to_string()
}

/// A parsed `methodCall`: the method name and its parameters, each as JSON.
#[derive(Debug)]
pub struct Call {
    /// `methodName`.
    pub method: String,
    /// `params`, in order.
    pub params: Vec<Value>,
}

/// Parse a `methodCall` (the caller has already bounded the body's size).
pub fn parse_call(body: &[u8]) -> Result<Call, Fault> {
    let text = decode(body)?;
    let root = parse_tree(&text)?;
    if root.name != "methodCall" {
        return Err(invalid("the root element is not <methodCall>"));
    }
    let method = root
        .children
        .iter()
        .find(|c| c.name == "methodName")
        .map(|m| m.text.trim().to_string())
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("no <methodName>"))?;
    let mut params = Vec::new();
    if let Some(ps) = root.children.iter().find(|c| c.name == "params") {
        for p in &ps.children {
            let v = match (p.name.as_str(), p.children.as_slice()) {
                ("param", [v]) if v.name == "value" => v,
                _ => return Err(invalid("a <param> holds one <value>")),
            };
            params.push(value_of(v, 0)?);
        }
    }
    Ok(Call { method, params })
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// The keys whose numbers are amounts: every money field of the model, and the amounts of
/// replies that are not records.
fn is_amount_key(key: &str) -> bool {
    static KEYS: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys: std::collections::HashSet<&'static str> = tollgate::model::ALL_ENTITIES
            .iter()
            .flat_map(|e| e.fields.iter())
            .filter(|f| matches!(f.kind, tollgate::model::FieldKind::Money { .. }))
            .map(|f| f.name)
            .collect();
        keys.extend([
            "balance", "amount", "result", "credit", "rate", "cost", "price", "fee",
        ]);
        keys
    })
    .contains(key)
}

/// One value as XML-RPC: `null` is `<nil/>`, integers `<int>` (or `<i8>` outside i32),
/// amounts (a number under a money key, or any number with a fraction) and reservation ids
/// `<string>` with their exact digits, never a lossy `<double>`.
fn write_value(v: &Value, out: &mut String) {
    write_keyed(v, None, out)
}

fn write_keyed(v: &Value, key: Option<&str>, out: &mut String) {
    out.push_str("<value>");
    match v {
        // Reservation ids reach 2^53, past XML-RPC's `<int>` (and many clients' `<i8>`): a
        // string, which every argument that takes an id accepts back.
        Value::Number(n)
            if key.is_some_and(|k| is_amount_key(k) || k == "reservation")
                || n.as_i64().is_none() =>
        {
            let _ = write!(out, "<string>{n}</string>");
        }
        Value::Null => out.push_str("<nil/>"),
        Value::Bool(b) => {
            let _ = write!(out, "<boolean>{}</boolean>", u8::from(*b));
        }
        Value::Number(n) => match n.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => {
                let _ = write!(out, "<int>{i}</int>");
            }
            Some(i) => {
                let _ = write!(out, "<i8>{i}</i8>");
            }
            None => {
                let _ = write!(out, "<string>{n}</string>");
            }
        },
        Value::String(s) => {
            out.push_str("<string>");
            escape(s, out);
            out.push_str("</string>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>");
            for i in items {
                write_value(i, out);
            }
            out.push_str("</data></array>");
        }
        Value::Object(map) => {
            out.push_str("<struct>");
            for (k, v) in map {
                out.push_str("<member><name>");
                escape(k, out);
                out.push_str("</name>");
                write_keyed(v, Some(k), out);
                out.push_str("</member>");
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>");
}

const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// A `methodResponse` carrying `v`.
pub fn response(v: &Value) -> String {
    let mut out = String::from(PROLOG);
    out.push_str("<methodResponse><params><param>");
    write_value(v, &mut out);
    out.push_str("</param></params></methodResponse>\n");
    out
}

/// A `methodResponse` carrying a fault.
pub fn fault_response(f: &Fault) -> String {
    let mut out = String::from(PROLOG);
    out.push_str("<methodResponse><fault>");
    write_value(&fault_struct(f), &mut out);
    out.push_str("</fault></methodResponse>\n");
    out
}

/// `{faultCode, faultString}`, as a fault and inside a `system.multicall` answer.
pub fn fault_struct(f: &Fault) -> Value {
    serde_json::json!({"faultCode": f.code, "faultString": f.message})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(params: &str) -> String {
        format!("<?xml version=\"1.0\"?><methodCall><methodName>clients.add</methodName><params>{params}</params></methodCall>")
    }

    #[test]
    fn values_round_trip() {
        let body = call(
            "<param><value><struct>\
             <member><name>name</name><value><string>A &amp; B</string></value></member>\
             <member><name>bare</name><value>text</value></member>\
             <member><name>n</name><value><int>7</int></value></member>\
             <member><name>big</name><value><i8>9000000000</i8></value></member>\
             <member><name>amount</name><value><double>10.10</double></value></member>\
             <member><name>on</name><value><boolean>1</boolean></value></member>\
             <member><name>none</name><value><nil/></value></member>\
             <member><name>list</name><value><array><data><value><i4>1</i4></value></data></array></value></member>\
             <member><name>dt</name><value><dateTime.iso8601>20260115T10:00:00</dateTime.iso8601></value></member>\
             </struct></value></param>",
        );
        let c = parse_call(body.as_bytes()).expect("parses");
        assert_eq!(c.method, "clients.add");
        assert_eq!(
            c.params,
            vec![
                json!({"name": "A & B", "bare": "text", "n": 7, "big": 9000000000i64,
                "amount": serde_json::from_str::<Value>("10.10").unwrap(), "on": true,
                "none": null, "list": [1], "dt": "2026-01-15 10:00:00"})
            ]
        );
        let out = response(&json!({"code": true, "n": 3_000_000_000i64, "s": "<x>", "z": null}));
        assert!(out.contains("<i8>3000000000</i8>"), "{out}");
        assert!(out.contains("<string>&lt;x&gt;</string>"), "{out}");
        assert!(out.contains("<nil/>"), "{out}");
        assert!(out.contains("<boolean>1</boolean>"), "{out}");
        let amounts: Value = serde_json::from_str(r#"{"balance": 0, "x": 1.10, "id": 5}"#).unwrap();
        let out = response(&amounts);
        assert!(
            out.contains("<name>balance</name><value><string>0</string>"),
            "{out}"
        );
        assert!(
            out.contains("<name>x</name><value><string>1.10</string>"),
            "{out}"
        );
        assert!(out.contains("<name>id</name><value><int>5</int>"), "{out}");
        let grant = response(&json!({"reservation": 12_884_901_889u64, "max_seconds": 60}));
        assert!(
            grant.contains("<name>reservation</name><value><string>12884901889</string>"),
            "{grant}"
        );
        assert!(
            grant.contains("<name>max_seconds</name><value><int>60</int>"),
            "{grant}"
        );
    }

    #[test]
    fn bombs_and_bad_shapes_are_faults() {
        let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]>\
                      <methodCall><methodName>&lol2;</methodName></methodCall>";
        assert_eq!(
            parse_call(laughs.as_bytes()).unwrap_err().code,
            NOT_WELL_FORMED
        );
        let undeclared = call("<param><value><string>&xxe;</string></value></param>");
        assert_eq!(
            parse_call(undeclared.as_bytes()).unwrap_err().code,
            NOT_WELL_FORMED
        );
        let deep = format!(
            "<methodCall><methodName>m</methodName><params><param>{}{}</param></params></methodCall>",
            "<value><array><data>".repeat(40),
            "</data></array></value>".repeat(40)
        );
        assert_eq!(
            parse_call(deep.as_bytes()).unwrap_err().code,
            INVALID_XMLRPC
        );
        let very_deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
        assert_eq!(
            parse_call(very_deep.as_bytes()).unwrap_err().code,
            INVALID_XMLRPC
        );
        assert_eq!(
            parse_call(b"<methodCall>").unwrap_err().code,
            NOT_WELL_FORMED
        );
        assert_eq!(parse_call(b"<x/>").unwrap_err().code, INVALID_XMLRPC);
        assert_eq!(
            parse_call(b"\xff\xfe").unwrap_err().code,
            UNSUPPORTED_ENCODING
        );
        let latin = b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><methodCall><methodName>m</methodName><params><param><value>caf\xe9</value></param></params></methodCall>";
        assert_eq!(
            parse_call(latin).expect("latin-1").params,
            vec![json!("café")]
        );
    }
}
