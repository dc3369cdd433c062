//! Names a user types for a fixed set of choices (a policy, a copy order, a mutant, a disk
//! model, ...): one way to parse each, and one refusal for a name that is none of them. The
//! refusal lists the choices and, when the name is close to one, says "did you mean ...?".
//! Each front end (a flag on the command line, a key of a sweep or fault-plan file) says
//! where the name stood; the refusal says only what is wrong with it.

use std::fmt;

#[doc(hidden)]
pub use serde;

/// A name that is none of the choices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What was named: `policy`, `copy order`, `disk`, ...
    pub what: &'static str,
    /// The name as given.
    pub given: String,
    /// Every name accepted, in the order they are listed.
    pub choices: Vec<String>,
}

impl UnknownName {
    pub fn new<S: Into<String>>(
        what: &'static str,
        given: &str,
        choices: impl IntoIterator<Item = S>,
    ) -> UnknownName {
        UnknownName {
            what,
            given: given.to_string(),
            choices: choices.into_iter().map(Into::into).collect(),
        }
    }

    /// The choice closest to the name given, if one is close enough to be a slip.
    pub fn suggestion(&self) -> Option<&str> {
        closest(&self.given, self.choices.iter().map(String::as_str))
    }

    /// `expected one of: a, b, c`, and `; did you mean b?` when one is close.
    pub fn expected(&self) -> String {
        let mut out = format!("expected one of: {}", self.choices.join(", "));
        if let Some(s) = self.suggestion() {
            out.push_str(&format!("; did you mean {s}?"));
        }
        out
    }
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} (expected one of: {})",
            self.what,
            self.choices.join(", ")
        )?;
        match self.suggestion() {
            Some(s) => write!(f, "; did you mean {s}?"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for UnknownName {}

/// Names listed with commas, as refusals and reports list them: `a, b, c`.
pub fn joined<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let names: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    names.join(", ")
}

/// How alike two names must be (Jaro-Winkler similarity, 1 for equal) for one to be taken
/// for a slip of the other, when no choice is a few edits away.
const CLOSE: f64 = 0.8;

/// The choice `given` is a slip of, if one stands out: the one choice fewest edits away
/// (letters added, dropped, changed or swapped: at most one edit per three letters), else
/// the one most alike ([`CLOSE`]). A tie gives none (`raid6` is as near `raid0` as `raid5`:
/// no guess is better than a wrong one).
pub fn closest<'a>(given: &str, choices: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let choices: Vec<&str> = choices.into_iter().collect();
    let limit = (given.chars().count() / 3).max(1) as f64;
    let edits = |c: &str| -(strsim::osa_distance(given, c) as f64);
    let likeness = |c: &str| strsim::jaro_winkler(given, c);
    standout(&choices, edits, -limit).or_else(|| standout(&choices, likeness, CLOSE))
}

/// The one choice scoring highest, at least `floor`, if no other scores as high.
fn standout<'a>(choices: &[&'a str], score: impl Fn(&str) -> f64, floor: f64) -> Option<&'a str> {
    let mut scored: Vec<(f64, &str)> = choices
        .iter()
        .map(|c| (score(c), *c))
        .filter(|(s, _)| *s >= floor)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    match scored.as_slice() {
        [(best, c), rest @ ..] if rest.first().is_none_or(|(next, _)| next < best) => Some(*c),
        _ => None,
    }
}

/// A fixed set of choices, each with the one name it is written as.
pub trait Named: Copy + Sized + 'static {
    /// What a value is, in a refusal: `unknown copy order`.
    const WHAT: &'static str;
    /// Every choice, in the order they are listed.
    const ALL: &'static [Self];

    fn name(self) -> &'static str;

    /// Every name, in the order they are listed.
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|v| v.name()).collect()
    }

    /// The choice of this name; the one place such names are read.
    fn from_name(text: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.name() == text)
            .ok_or_else(|| UnknownName::new(Self::WHAT, text, Self::names()))
    }
}

/// `Display`, `FromStr` and serde for a [`Named`] type, all through its name.
#[macro_export]
macro_rules! named_by_name {
    ($t:ty) => {
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad($crate::names::Named::name(*self))
            }
        }

        impl ::std::str::FromStr for $t {
            type Err = $crate::names::UnknownName;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                <$t as $crate::names::Named>::from_name(text)
            }
        }

        impl $crate::names::serde::Serialize for $t {
            fn serialize<S: $crate::names::serde::Serializer>(
                &self,
                s: S,
            ) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::names::Named::name(*self))
            }
        }

        impl<'de> $crate::names::serde::Deserialize<'de> for $t {
            fn deserialize<D: $crate::names::serde::Deserializer<'de>>(
                d: D,
            ) -> Result<Self, D::Error> {
                let text = <String as $crate::names::serde::Deserialize>::deserialize(d)?;
                <$t as $crate::names::Named>::from_name(&text)
                    .map_err(<D::Error as $crate::names::serde::de::Error>::custom)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slip_is_named_and_a_stranger_is_not() {
        let choices = ["uniform", "zipf", "hotspot", "sequential"];
        assert_eq!(closest("zipff", choices), Some("zipf"));
        assert_eq!(closest("hot-spot", choices), Some("hotspot"));
        assert_eq!(closest("tape", choices), None);
        assert_eq!(closest("raid6", ["raid0", "raid1", "raid5"]), None);
        assert_eq!(closest("sna", ["separate", "shared", "san"]), Some("san"));
        let e = UnknownName::new("workload", "unifrom", choices);
        assert_eq!(
            e.to_string(),
            "unknown workload (expected one of: uniform, zipf, hotspot, sequential); did you mean uniform?"
        );
        let e = UnknownName::new("workload", "burst", choices);
        assert!(!e.to_string().contains("did you mean"), "{e}");
    }
}
