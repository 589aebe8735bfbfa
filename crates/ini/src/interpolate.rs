//! `%(name)s` interpolation: Python's `BasicInterpolation` with fail2ban's additions
//! (`%(__name__)s`, `%(section/option)s`, `%(default/option)s`, `%(known/option)s`).
//!
//! A referenced value is itself interpolated in the context of the section being read, not of
//! the section it came from: that is how Python does it, and fail2ban configs rely on it.

use crate::error::{IniError, IniErrorKind};
use crate::span::{Span, Spanned, Value};
use crate::{DEFAULT_SECTION, Ini, KNOWN_PREFIX, Options};

/// Python's `MAX_INTERPOLATION_DEPTH`.
pub const MAX_INTERPOLATION_DEPTH: u32 = 10;

/// What the value being interpolated is, for error messages.
struct Context<'a> {
    section: &'a str,
    option: &'a str,
    span: &'a Span,
    vars: &'a Options,
}

impl Context<'_> {
    fn error(&self, kind: IniErrorKind) -> IniError {
        IniError::new(self.span.clone(), kind)
    }
}

impl Ini {
    /// The raw value `get` would interpolate: from `vars`, the section, or `[DEFAULT]`.
    /// `vars` keys must be lower-case.
    pub fn lookup<'a>(
        &'a self,
        section: &str,
        option: &str,
        vars: &'a Options,
    ) -> Option<&'a Value> {
        if section != DEFAULT_SECTION && !self.has_section(section) {
            return None;
        }
        vars.get(option).or_else(|| self.raw(section, option))
    }

    /// An option's interpolated value (Python's `ConfigParser.get(section, option, vars=vars)`).
    /// `None` when the section or option does not exist; `vars` override the file's values.
    pub fn get(
        &self,
        section: &str,
        option: &str,
        vars: &Options,
    ) -> Option<Result<Spanned<String>, IniError>> {
        let option = option.to_lowercase();
        let raw = self.lookup(section, &option, vars)?;
        let context = Context {
            section,
            option: &option,
            span: &raw.span,
            vars,
        };
        let mut out = String::new();
        Some(
            self.interpolate(&context, &raw.text, 1, &mut out)
                .map(|()| Spanned::new(out, raw.span.clone())),
        )
    }

    /// Like [`get`](Ini::get), but `option` may name another section: `section/option`,
    /// `default/option`, or `known/option` (the value before the last override, else the
    /// current one); fail2ban's `get_ex`.
    pub fn get_ex(
        &self,
        section: &str,
        option: &str,
        vars: &Options,
    ) -> Option<Result<Spanned<String>, IniError>> {
        if let Some((other, name)) = split_section_option(option)
            && !name.contains(|c: char| c.is_whitespace() || c == '>')
        {
            let known = format!("{KNOWN_PREFIX}{section}");
            let candidates: Vec<&str> = match other.to_lowercase().as_str() {
                "known" => vec![&known, section],
                "default" => vec![DEFAULT_SECTION],
                _ => vec![other],
            };
            let empty = Options::new();
            for candidate in candidates {
                if let Some(found) = self.get(candidate, name, &empty) {
                    return Some(found);
                }
            }
        }
        self.get(section, option, vars)
    }

    fn interpolate(
        &self,
        context: &Context<'_>,
        text: &str,
        depth: u32,
        out: &mut String,
    ) -> Result<(), IniError> {
        if depth > MAX_INTERPOLATION_DEPTH {
            return Err(context.error(IniErrorKind::InterpolationDepth {
                section: context.section.to_string(),
                option: context.option.to_string(),
                limit: MAX_INTERPOLATION_DEPTH,
            }));
        }
        let mut rest = text;
        while let Some(at) = rest.find('%') {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            if let Some(after) = rest.strip_prefix("%%") {
                out.push('%');
                rest = after;
                continue;
            }
            let (name, after) = reference(rest).ok_or_else(|| self.syntax_error(context, rest))?;
            rest = after;
            let name = name.to_lowercase();
            let value = self.resolve(context, &name).ok_or_else(|| {
                context.error(IniErrorKind::UndefinedReference {
                    section: context.section.to_string(),
                    option: context.option.to_string(),
                    reference: name.clone(),
                })
            })?;
            if value.contains('%') {
                self.interpolate(context, &value, depth + 1, out)?;
            } else {
                out.push_str(&value);
            }
        }
        out.push_str(rest);
        Ok(())
    }

    fn syntax_error(&self, context: &Context<'_>, rest: &str) -> IniError {
        let detail = if rest.starts_with("%(") {
            format!("bad interpolation variable reference {rest:?}")
        } else {
            format!("'%' must be followed by '%' or '(', found: {rest:?}")
        };
        context.error(IniErrorKind::BadInterpolation {
            section: context.section.to_string(),
            option: context.option.to_string(),
            detail,
        })
    }

    /// The raw text a reference stands for, in the context's section.
    fn resolve(&self, context: &Context<'_>, name: &str) -> Option<String> {
        if name == "__name__" {
            return Some(context.section.to_string());
        }
        if let Some(value) = self.lookup(context.section, name, context.vars) {
            return Some(value.text.clone());
        }
        if !self.has_section(context.section) && context.section != DEFAULT_SECTION {
            return None;
        }
        let (other, option) = split_section_option(name)?;
        self.resolve_section_option(context.section, other, option)
    }

    /// fail2ban's `_map_section_options`: `default/x` is `[DEFAULT]`'s x; `known/x` the value
    /// before the last override, else `[DEFAULT]`'s; `sec/x` is section sec's x, else
    /// `[DEFAULT]`'s (nothing if there is no such section).
    fn resolve_section_option(&self, section: &str, other: &str, option: &str) -> Option<String> {
        let from_defaults = || self.defaults.get(option).map(|v| v.text.clone());
        match other.to_lowercase().as_str() {
            "default" => from_defaults(),
            "known" => {
                let known = self.sections.get(&format!("{KNOWN_PREFIX}{section}"));
                match known.and_then(|s| s.get(option)) {
                    Some(value) => Some(value.text.clone()),
                    None => from_defaults(),
                }
            }
            _ => {
                let target = self.sections.get(other)?;
                match target.get(option) {
                    Some(value) => Some(value.text.clone()),
                    None => from_defaults(),
                }
            }
        }
    }
}

/// `%(name)s` at the start of `text` → (name, rest after it). Python's `%\(([^)]+)\)s`.
fn reference(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix("%(")?;
    let close = inner.find(')')?;
    let rest = inner[close + 1..].strip_prefix('s')?;
    (close > 0).then(|| (&inner[..close], rest))
}

/// `section/option` with a section name of word characters and `-`.
fn split_section_option(name: &str) -> Option<(&str, &str)> {
    let (section, option) = name.split_once('/')?;
    let valid = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    (!section.is_empty() && !option.is_empty() && section.chars().all(valid))
        .then_some((section, option))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ini(text: &str) -> Ini {
        let (ini, errors) = Ini::parse_str("t.conf", text);
        assert!(errors.is_empty(), "{errors:?}");
        ini
    }

    fn get(ini: &Ini, section: &str, option: &str) -> Result<String, IniError> {
        match ini.get(section, option, &Options::new()) {
            Some(result) => result.map(|v| v.value),
            None => panic!("no {section}/{option}"),
        }
    }

    #[test]
    fn plain_default_and_name_references() {
        let ini =
            ini("[DEFAULT]\nd = D\n[S]\na = x%(b)s-%(d)s-%(__name__)s %%\nb = <%(c)s>\nc = C\n");
        assert_eq!(get(&ini, "S", "a").unwrap(), "x<C>-D-S %");
    }

    #[test]
    fn section_and_default_prefixed_references() {
        let text = "[DEFAULT]\nx = dx\n[a]\nx = ax\ny = %(z)s\n[B]\nz = bz\nv = %(a/x)s %(default/x)s %(a/y)s %(a/missing)s %(x)s\nw = %(nosec/x)s\nx = bx\n[DEFAULT]\nmissing = dm\n";
        let ini = ini(text);
        // %(a/y)s is a's raw `%(z)s`, interpolated in B's context (checked against Python).
        assert_eq!(get(&ini, "B", "v").unwrap(), "ax dx bz dm bx");
        assert!(get(&ini, "B", "w").is_err());
    }

    #[test]
    fn vars_override_section_values() {
        let ini = ini("[S]\na = %(b)s\nb = file\n");
        let mut vars = Options::new();
        vars.insert("b".into(), Value::new("var", Span::new("<cmd>", 0)));
        let got = ini.get("S", "a", &vars).unwrap().unwrap();
        assert_eq!(got.value, "var");
        assert_eq!(got.span.line(), 2);
    }

    #[test]
    fn undefined_reference_names_the_place() {
        let ini = ini("[S]\n\na = %(nope)s\n");
        let error = get(&ini, "S", "a").unwrap_err();
        assert_eq!(
            error.to_string(),
            "t.conf:3: [S] a: `%(nope)s` refers to an undefined option `nope`"
        );
    }

    #[test]
    fn self_reference_hits_the_depth_limit_not_the_stack() {
        let ini = ini("[S]\na = %(b)s\nb = %(a)s\n");
        let error = get(&ini, "S", "a").unwrap_err();
        assert!(
            matches!(error.kind, IniErrorKind::InterpolationDepth { .. }),
            "{error}"
        );
    }

    #[test]
    fn bad_percent_syntax() {
        let ini = ini("[S]\na = 50%\nb = %(x)d\n");
        assert!(matches!(
            get(&ini, "S", "a").unwrap_err().kind,
            IniErrorKind::BadInterpolation { .. }
        ));
        assert!(matches!(
            get(&ini, "S", "b").unwrap_err().kind,
            IniErrorKind::BadInterpolation { .. }
        ));
    }

    #[test]
    fn known_reference_sees_the_value_before_the_override() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("f.conf"),
            "[DEFAULT]\nk = dk\n[S]\nv = base\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("f.local"),
            "[S]\nv = %(known/v)s+local\nw = %(known/k)s\n",
        )
        .unwrap();
        let (ini, errors) = Ini::read_config(dir.path(), "f");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(get(&ini, "S", "v").unwrap(), "base+local");
        assert_eq!(get(&ini, "S", "w").unwrap(), "dk");
        let got = ini
            .get_ex("S", "known/v", &Options::new())
            .unwrap()
            .unwrap();
        assert_eq!(got.value, "base");
    }
}
