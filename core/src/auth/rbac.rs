//! Roles grant per-module verbs; every method declares the (module, verb) it needs.
//! Default deny: a right not granted is refused.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What a right allows, as in JeraSoft's role editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    /// See objects (`editForm`, `list`).
    Read,
    /// Create and change objects (`add`, `edit`, `archive`).
    Write,
    /// Run services (`core.authorize`, imports, ticks).
    Execute,
    /// Physically delete objects.
    Delete,
    /// Move money (payments, charges).
    Billing,
}

impl Verb {
    /// Every verb.
    pub const ALL: [Verb; 5] = [
        Verb::Read,
        Verb::Write,
        Verb::Execute,
        Verb::Delete,
        Verb::Billing,
    ];

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Read => "read",
            Verb::Write => "write",
            Verb::Execute => "execute",
            Verb::Delete => "delete",
            Verb::Billing => "billing",
        }
    }

    /// Parse an API name.
    pub fn parse(s: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The right a method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Permission {
    /// Module (section), e.g. `clients`.
    pub module: &'static str,
    /// Verb.
    pub verb: Verb,
}

impl Permission {
    /// A permission.
    pub const fn new(module: &'static str, verb: Verb) -> Self {
        Permission { module, verb }
    }
}

/// A role's grants: module (or `*` for every module) to verbs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    modules: BTreeMap<String, BTreeSet<Verb>>,
}

impl Grants {
    /// Everything.
    pub fn all() -> Grants {
        let mut g = Grants::default();
        g.modules
            .insert("*".into(), Verb::ALL.into_iter().collect());
        g
    }

    /// Parse the stored JSON form `{"clients": ["read", "write"], "*": [...]}`.
    pub fn from_json(v: &Value) -> Option<Grants> {
        let obj = v.as_object()?;
        let mut g = Grants::default();
        for (module, verbs) in obj {
            let set = verbs
                .as_array()?
                .iter()
                .map(|x| x.as_str().and_then(Verb::parse))
                .collect::<Option<BTreeSet<_>>>()?;
            g.modules.insert(module.clone(), set);
        }
        Some(g)
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        for (module, verbs) in &self.modules {
            m.insert(
                module.clone(),
                Value::from(verbs.iter().map(|v| v.as_str()).collect::<Vec<_>>()),
            );
        }
        Value::Object(m)
    }

    /// Does this grant allow `p`?
    pub fn allows(&self, p: Permission) -> bool {
        self.allows_verb(p.module, p.verb)
    }

    /// Does this grant allow `verb` on `module`?
    pub fn allows_verb(&self, module: &str, verb: Verb) -> bool {
        self.modules.get(module).is_some_and(|s| s.contains(&verb))
            || self.modules.get("*").is_some_and(|s| s.contains(&verb))
    }

    /// Is every right of `other` also held here? (Nobody grants more than they hold.)
    pub fn covers(&self, other: &Grants) -> bool {
        other.modules.iter().all(|(module, verbs)| {
            verbs.iter().all(|v| {
                if module == "*" {
                    self.modules.get("*").is_some_and(|s| s.contains(v))
                } else {
                    self.allows_verb(module, *v)
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_deny_and_wildcards() {
        let g = Grants::from_json(&serde_json::json!({"clients": ["read"]})).unwrap();
        assert!(g.allows(Permission::new("clients", Verb::Read)));
        assert!(!g.allows(Permission::new("clients", Verb::Write)));
        assert!(!g.allows(Permission::new("accounts", Verb::Read)));
        assert!(Grants::all().allows(Permission::new("accounts", Verb::Delete)));
        assert!(Grants::from_json(&serde_json::json!({"clients": ["fly"]})).is_none());
        assert!(Grants::all().covers(&g));
        assert!(!g.covers(&Grants::all()));
    }
}
