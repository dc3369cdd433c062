//! What the installed QEMU can do, read from its own QMP schema (`query-qmp-schema`), so
//! that an option the installed version lacks is refused by name before a run, instead of
//! failing half-way through one.

use serde_json::Value;
use std::collections::HashMap;

/// The introspected schema: its entries by (masked) name.
pub struct Schema {
    entries: HashMap<String, Value>,
}

impl Schema {
    /// Reads the list `query-qmp-schema` returns.
    pub fn new(list: &Value) -> Schema {
        let entries = list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| Some((e["name"].as_str()?.to_string(), e.clone())))
            .collect();
        Schema { entries }
    }

    /// Whether `command` exists and its arguments reach `path`: a member, a member of that
    /// member's type, and so on (arrays are looked through to their elements).
    pub fn command_takes(&self, command: &str, path: &[&str]) -> bool {
        let Some(entry) = self.entries.get(command) else {
            return false;
        };
        if entry["meta-type"] != "command" {
            return false;
        }
        match entry["arg-type"].as_str() {
            Some(args) => self.reaches(args, None, path),
            None => path.is_empty(),
        }
    }

    /// Whether `blockdev-add` knows `driver` and, for it, the option path `path`.
    pub fn driver_takes(&self, driver: &str, path: &[&str]) -> bool {
        self.entries
            .get("blockdev-add")
            .and_then(|e| e["arg-type"].as_str())
            .is_some_and(|args| self.reaches(args, Some(driver), path))
    }

    /// Follows `path` from the type called `name`; `case` picks a union's variant.
    fn reaches(&self, name: &str, case: Option<&str>, path: &[&str]) -> bool {
        let Some(t) = self.entries.get(name) else {
            return false;
        };
        if t["meta-type"] == "array" {
            return t["element-type"]
                .as_str()
                .is_some_and(|e| self.reaches(e, case, path));
        }
        let variant = match case {
            None => None,
            Some(c) => match self.variant(t, c) {
                Some(v) => Some(v),
                None => return false,
            },
        };
        let Some((first, rest)) = path.split_first() else {
            return true;
        };
        let member_type = |object: &Value| -> Option<String> {
            object["members"]
                .as_array()?
                .iter()
                .find(|m| m["name"] == *first)
                .and_then(|m| m["type"].as_str().map(str::to_string))
        };
        let found = member_type(t).or_else(|| variant.and_then(member_type));
        found.is_some_and(|ty| rest.is_empty() || self.reaches(&ty, None, rest))
    }

    fn variant(&self, union: &Value, case: &str) -> Option<&Value> {
        let name = union["variants"]
            .as_array()?
            .iter()
            .find(|v| v["case"] == case)?["type"]
            .as_str()?;
        self.entries.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A schema shaped as QEMU's introspection is (type names masked as numbers).
    fn schema() -> Schema {
        Schema::new(&json!([
            {"name": "blockdev-backup", "meta-type": "command", "arg-type": "19"},
            {"name": "19", "meta-type": "object", "members": [
                {"name": "device", "type": "str"},
                {"name": "x-perf", "type": "101", "default": null}]},
            {"name": "101", "meta-type": "object", "members": [
                {"name": "max-workers", "type": "int"}]},
            {"name": "blockdev-add", "meta-type": "command", "arg-type": "200"},
            {"name": "200", "meta-type": "object", "tag": "driver",
             "members": [{"name": "driver", "type": "str"}],
             "variants": [{"case": "copy-before-write", "type": "119"},
                          {"case": "blkdebug", "type": "114"}]},
            {"name": "119", "meta-type": "object", "members": [
                {"name": "on-cbw-error", "type": "str"}]},
            {"name": "114", "meta-type": "object", "members": [
                {"name": "inject-error", "type": "[229]"}]},
            {"name": "[229]", "meta-type": "array", "element-type": "229"},
            {"name": "229", "meta-type": "object", "members": [
                {"name": "iotype", "type": "str"}]},
        ]))
    }

    #[test]
    fn a_path_is_found_only_where_the_schema_has_it() {
        let s = schema();
        assert!(s.command_takes("blockdev-backup", &["x-perf", "max-workers"]));
        assert!(!s.command_takes("blockdev-backup", &["x-perf", "min-cluster-size"]));
        assert!(!s.command_takes("blockdev-backup", &["on-cbw-error"]));
        assert!(!s.command_takes("blockdev-mirror", &[]));
        assert!(s.driver_takes("copy-before-write", &["on-cbw-error"]));
        assert!(!s.driver_takes("copy-before-write", &["cbw-timeout"]));
        assert!(s.driver_takes("blkdebug", &["inject-error", "iotype"]));
        assert!(s.driver_takes("blkdebug", &[]));
        assert!(!s.driver_takes("snapshot-access", &[]));
        // A base member is every driver's.
        assert!(s.driver_takes("blkdebug", &["driver"]));
    }
}
