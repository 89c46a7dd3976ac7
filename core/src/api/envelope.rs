//! The reply envelope `{code, return, session_id, messages, errors}`.

use crate::error::{Error, ErrorCode};
use serde_json::{json, Value};

/// One entry of `errors`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// Stable machine code.
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// The argument concerned, if any.
    pub field: Option<String>,
}

/// The reply to every Management API call.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// `true` on success, `false` on any refused call.
    pub code: bool,
    /// The method's data (`[]` on failure, as the vendor's client expects).
    pub ret: Value,
    /// The session to send as `SID` next time.
    pub session_id: Option<String>,
    /// Success or warning messages.
    pub messages: Vec<String>,
    /// Why the call was refused.
    pub errors: Vec<ApiError>,
}

impl Default for Envelope {
    fn default() -> Self {
        Envelope {
            code: false,
            ret: Value::Array(Vec::new()),
            session_id: None,
            messages: Vec::new(),
            errors: Vec::new(),
        }
    }
}

impl Envelope {
    /// Record a failure.
    pub fn push_error(&mut self, e: &Error) {
        self.code = false;
        self.ret = Value::Array(Vec::new());
        self.errors.push(ApiError {
            code: e.code(),
            message: e.to_string(),
            field: e.field().map(str::to_string),
        });
    }

    /// The first error's code, if the call failed.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.errors.first().map(|e| e.code)
    }

    /// The envelope as JSON, in the vendor's key order.
    pub fn to_json(&self) -> Value {
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|e| {
                let mut o = json!({"code": e.code.as_str(), "message": e.message});
                if let (Some(f), Some(m)) = (&e.field, o.as_object_mut()) {
                    m.insert("field".into(), Value::String(f.clone()));
                }
                o
            })
            .collect();
        json!({
            "code": self.code,
            "session_id": self.session_id,
            "messages": self.messages,
            "return": self.ret,
            "errors": errors,
        })
    }
}
