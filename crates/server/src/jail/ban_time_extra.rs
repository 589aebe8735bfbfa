//! A jail's `bantime.*` settings as fail2ban keeps them (`Jail._banExtra`): the values as
//! they were given, for `get JAIL bantime.OPTION`, and the tracker's
//! [`BanTimeIncrement`] made from them, for `set JAIL bantime.OPTION VALUE` at run time.
//!
//! fail2ban keeps any option name (`bantime.foo` is stored and answered, and does
//! nothing); `increment` is kept as a bool and `maxtime`/`rndtime` as seconds, every other
//! value as its text. After each change the increment is made again from all of them, so a
//! bad `factor`, `formula` or `multipliers` is refused with Python's words for it.
//!
//! This is the one reader of those values: the jail's files go through
//! [`BanTimeExtra::from_spec`] and [`BanTimeExtra::resolve`] too, which names every refused
//! option so that the set-up can point at its `file:line`.

use ferroban_config::{JailSpec, TimeSpec};
use ferroban_ini::Spanned;
use ferroban_tracker::{BanTimeIncrement, Formula, FormulaError, IncrementFormula};

/// One kept value.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtraValue {
    Bool(bool),
    Seconds(i64),
    Text(String),
}

/// The `bantime.*` options of a jail, in the order they were set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BanTimeExtra {
    values: Vec<(String, ExtraValue)>,
}

/// Why a `bantime.*` value was refused, in the words of fail2ban's server.
#[derive(Debug, thiserror::Error)]
pub enum ExtraError {
    /// Python's `NameError` for a word that is no number (`bantime.factor abc`).
    #[error("name '{0}' is not defined")]
    UnknownName(String),
    /// Python's `SyntaxError` from `eval` of a factor.
    #[error("invalid syntax (<string>, line 1)")]
    Syntax,
    /// Python's `SyntaxError` from `compile` of a formula; the cause is kept for the
    /// set-up's error at the formula's `file:line`.
    #[error("invalid syntax (~inline-conf-expr~, line 1)")]
    Formula(FormulaError),
    /// Python's `int()` refusing a multiplier.
    #[error("invalid literal for int() with base 10: '{0}'")]
    NotAnInteger(String),
    /// A time `str2seconds` cannot read.
    #[error("{0}")]
    Time(String),
}

impl BanTimeExtra {
    /// The values a jail's files set, as fail2ban-client sends them to its server.
    pub(crate) fn from_spec(spec: &JailSpec) -> BanTimeExtra {
        let mut extra = BanTimeExtra::default();
        let text = |v: &Spanned<String>| ExtraValue::Text(v.value.clone());
        let seconds = |v: &Spanned<TimeSpec>| ExtraValue::Seconds(v.value.seconds);
        let flag = |v: &Spanned<bool>| ExtraValue::Bool(v.value);
        let found = [
            ("increment", spec.bantime_increment.as_ref().map(flag)),
            ("factor", spec.bantime_factor.as_ref().map(text)),
            ("formula", spec.bantime_formula.as_ref().map(text)),
            ("multipliers", spec.bantime_multipliers.as_ref().map(text)),
            ("maxtime", spec.bantime_maxtime.as_ref().map(seconds)),
            ("rndtime", spec.bantime_rndtime.as_ref().map(seconds)),
            ("overalljails", spec.bantime_overalljails.as_ref().map(flag)),
        ];
        for (option, value) in found {
            if let Some(value) = value {
                extra.values.push((option.to_string(), value));
            }
        }
        extra
    }

    /// `get JAIL bantime.OPTION`: `None` for an option never set.
    pub(crate) fn get(&self, option: &str) -> Option<&ExtraValue> {
        self.values
            .iter()
            .find(|(name, _)| name == option)
            .map(|(_, value)| value)
    }

    /// fail2ban's `setBanTimeExtra`: an empty value removes the option. The increment
    /// this leads to is returned, `None` when `bantime.increment` is off; on an error
    /// nothing changes.
    pub(crate) fn set(
        &mut self,
        option: &str,
        value: &str,
    ) -> Result<Option<BanTimeIncrement>, ExtraError> {
        let mut new = self.clone();
        new.values.retain(|(name, _)| name != option);
        if !value.is_empty() {
            let kept = match option {
                "increment" => ExtraValue::Bool(python_bool(value)),
                "maxtime" | "rndtime" => ExtraValue::Seconds(seconds(value)?),
                _ => ExtraValue::Text(value.to_string()),
            };
            new.values.push((option.to_string(), kept));
        }
        let increment = new.increment()?;
        *self = new;
        Ok(increment)
    }

    /// The tracker's increment settings, `None` when `bantime.increment` is off; the
    /// first refused value otherwise.
    pub(crate) fn increment(&self) -> Result<Option<BanTimeIncrement>, ExtraError> {
        // `resolve` fails only with at least one refusal.
        self.resolve().map_err(|refused| {
            (refused.into_iter().next()).map_or(ExtraError::Syntax, |first| first.error)
        })
    }

    /// The tracker's increment settings, `None` when `bantime.increment` is off, or every
    /// refused value with its option. As in fail2ban, `factor`, `formula` and `multipliers`
    /// are evaluated whether or not the increment is on.
    pub(crate) fn resolve(&self) -> Result<Option<BanTimeIncrement>, Vec<Refusal>> {
        let mut refused = Vec::new();
        let factor = match self.get("factor") {
            Some(ExtraValue::Text(text)) => {
                Refusal::note(&mut refused, "factor", python_number(text))
            }
            _ => Some(1.0),
        };
        let multipliers = match self.get("multipliers") {
            Some(ExtraValue::Text(text)) => {
                Refusal::note(&mut refused, "multipliers", multipliers(text))
            }
            _ => Some(Vec::new()),
        };
        let formula = match (multipliers, self.get("formula")) {
            (Some(multipliers), _) if !multipliers.is_empty() => {
                Some(IncrementFormula::Multipliers(multipliers))
            }
            (_, Some(ExtraValue::Text(text))) => Refusal::note(
                &mut refused,
                "formula",
                Formula::parse(text.as_str()).map_err(ExtraError::Formula),
            )
            .map(IncrementFormula::Custom),
            (_, _) => Some(IncrementFormula::Default),
        };
        let (Some(formula), Some(factor), true) = (formula, factor, refused.is_empty()) else {
            return Err(refused);
        };
        if self.get("increment") != Some(&ExtraValue::Bool(true)) {
            return Ok(None);
        }
        let seconds_of = |option| match self.get(option) {
            Some(ExtraValue::Seconds(seconds)) => Some(*seconds),
            _ => None,
        };
        Ok(Some(BanTimeIncrement {
            formula,
            factor,
            max_time: seconds_of("maxtime"),
            rnd_time: seconds_of("rndtime"),
            overall_jails: match self.get("overalljails") {
                Some(ExtraValue::Bool(flag)) => *flag,
                Some(ExtraValue::Text(text)) => python_bool(text),
                _ => false,
            },
        }))
    }
}

/// A `bantime.*` value refused, and the option it was given for.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub option: &'static str,
    pub error: ExtraError,
}

impl Refusal {
    /// `value`, or `None` with its refusal added to `refused`.
    fn note<T>(
        refused: &mut Vec<Refusal>,
        option: &'static str,
        value: Result<T, ExtraError>,
    ) -> Option<T> {
        value
            .map_err(|error| refused.push(Refusal { option, error }))
            .ok()
    }
}

/// fail2ban's `_as_bool`.
fn python_bool(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "yes" | "on" | "1"
    )
}

/// `eval(factor)`, for what a factor can sensibly be: a number.
fn python_number(text: &str) -> Result<f64, ExtraError> {
    let word = text.trim();
    if let Ok(number) = word.parse::<f64>() {
        return Ok(number);
    }
    let is_name = word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match is_name {
        true => Err(ExtraError::UnknownName(word.to_string())),
        false => Err(ExtraError::Syntax),
    }
}

/// `[int(i) for i in value.split(' ')]`.
fn multipliers(text: &str) -> Result<Vec<i64>, ExtraError> {
    text.split(' ')
        .map(|word| {
            word.trim()
                .parse()
                .map_err(|_| ExtraError::NotAnInteger(word.to_string()))
        })
        .collect()
}

/// `MyTime.str2seconds`, with Python's `NameError` for a lone word.
fn seconds(value: &str) -> Result<i64, ExtraError> {
    ferroban_config::str_to_seconds(value).map_err(|error| match python_number(value) {
        Err(ExtraError::UnknownName(name)) => ExtraError::UnknownName(name),
        _ => ExtraError::Time(error),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn values_are_kept_as_fail2ban_keeps_them() {
        let mut extra = BanTimeExtra::default();
        assert_eq!(extra.get("increment"), None);
        assert!(extra.set("increment", "yes").unwrap().is_some());
        assert_eq!(extra.get("increment"), Some(&ExtraValue::Bool(true)));
        extra.set("maxtime", "1d").unwrap();
        assert_eq!(extra.get("maxtime"), Some(&ExtraValue::Seconds(86_400)));
        extra.set("foo", "bar").unwrap();
        assert_eq!(extra.get("foo"), Some(&ExtraValue::Text("bar".into())));
        extra.set("foo", "").unwrap();
        assert_eq!(extra.get("foo"), None);
        let increment = extra.set("multipliers", "1 2 4").unwrap().unwrap();
        assert_eq!(increment.max_time, Some(86_400));
        assert!(matches!(increment.formula, IncrementFormula::Multipliers(m) if m == [1, 2, 4]));
        assert!(extra.set("increment", "off").unwrap().is_none());
    }

    #[test]
    fn bad_values_are_refused_in_pythons_words_and_change_nothing() {
        let mut extra = BanTimeExtra::default();
        extra.set("factor", "2").unwrap();
        let error = |extra: &mut BanTimeExtra, option, value| {
            extra.set(option, value).unwrap_err().to_string()
        };
        assert_eq!(
            error(&mut extra, "factor", "abc"),
            "name 'abc' is not defined"
        );
        assert_eq!(
            error(&mut extra, "factor", "1+"),
            "invalid syntax (<string>, line 1)"
        );
        assert_eq!(
            error(&mut extra, "multipliers", "x"),
            "invalid literal for int() with base 10: 'x'"
        );
        assert_eq!(
            error(&mut extra, "maxtime", "abc"),
            "name 'abc' is not defined"
        );
        assert_eq!(extra.get("factor"), Some(&ExtraValue::Text("2".into())));
    }
}
