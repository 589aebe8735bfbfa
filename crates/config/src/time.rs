//! fail2ban's time expressions (`server/mytime.py` `str2seconds`): `600`, `10m`, `1h 30m`,
//! `1d12h`, `1w`, `1year-6mo`, `-1` (permanent). A space between two terms means `+`; units are
//! case-insensitive and may be written short or long (`m`, `mm`, `min`, `minute`, `minutes`).
//! A month is a year / 12, a year 365.25 days, as in fail2ban.

/// Seconds per unit, for each spelling fail2ban accepts.
const UNITS: [(&[&str], f64); 7] = [
    (&["day", "days", "da", "d", "dd"], 86_400.0),
    (&["week", "weeks", "we", "wee", "w", "ww"], 604_800.0),
    (&["month", "months", "mo", "mon"], 2_629_800.0),
    (&["year", "years", "ye", "yea", "y", "yy"], 31_557_600.0),
    (&["second", "seconds", "se", "sec", "s", "ss"], 1.0),
    (&["minute", "minutes", "mi", "min", "m", "mm"], 60.0),
    (&["hour", "hours", "ho", "hou", "h", "hh"], 3_600.0),
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Number(f64),
    Unit(f64),
    Op(char),
    Open,
    Close,
}

/// Converts a time expression to seconds (rounded to whole seconds).
pub fn str_to_seconds(text: &str) -> Result<i64, String> {
    let tokens = tokenize(text)?;
    let tokens = insert_implicit_plus(tokens);
    let mut parser = Parser { tokens, at: 0 };
    let value = parser.sum()?;
    if parser.at != parser.tokens.len() {
        return Err(format!("unexpected text in time expression {text:?}"));
    }
    if !value.is_finite() {
        return Err(format!("time expression {text:?} is not a finite number"));
    }
    // Saturating float-to-int conversion is what we want for absurdly large values.
    #[allow(clippy::cast_possible_truncation)]
    Ok(value.round() as i64)
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let ch = chars[at];
        let start = at;
        if ch.is_whitespace() {
            at += 1;
        } else if ch.is_ascii_digit() || ch == '.' {
            while at < chars.len() && (chars[at].is_ascii_digit() || chars[at] == '.') {
                at += 1;
            }
            let number: String = chars[start..at].iter().collect();
            let value = number
                .parse::<f64>()
                .map_err(|_| format!("bad number {number:?}"))?;
            tokens.push(Token::Number(value));
        } else if ch.is_alphabetic() {
            while at < chars.len() && chars[at].is_alphabetic() {
                at += 1;
            }
            let word: String = chars[start..at].iter().collect::<String>().to_lowercase();
            let seconds =
                unit_seconds(&word).ok_or_else(|| format!("unknown time unit {word:?}"))?;
            tokens.push(Token::Unit(seconds));
        } else {
            tokens.push(match ch {
                '+' | '-' | '*' | '/' => Token::Op(ch),
                '(' => Token::Open,
                ')' => Token::Close,
                _ => return Err(format!("unexpected character {ch:?} in time expression")),
            });
            at += 1;
        }
    }
    Ok(tokens)
}

fn unit_seconds(word: &str) -> Option<f64> {
    UNITS
        .iter()
        .find(|(names, _)| names.contains(&word))
        .map(|&(_, seconds)| seconds)
}

/// `1d 12h` → `1d + 12h`: a term directly followed by a number.
fn insert_implicit_plus(tokens: Vec<Token>) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    for token in tokens {
        let ends_term = matches!(
            out.last(),
            Some(Token::Number(_) | Token::Unit(_) | Token::Close)
        );
        if ends_term && matches!(token, Token::Number(_) | Token::Open) {
            out.push(Token::Op('+'));
        }
        out.push(token);
    }
    out
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.at).copied()
    }

    fn sum(&mut self) -> Result<f64, String> {
        let mut value = self.product()?;
        while let Some(Token::Op(op @ ('+' | '-'))) = self.peek() {
            self.at += 1;
            let rhs = self.product()?;
            value = if op == '+' { value + rhs } else { value - rhs };
        }
        Ok(value)
    }

    fn product(&mut self) -> Result<f64, String> {
        let mut value = self.factor()?;
        while let Some(Token::Op(op @ ('*' | '/'))) = self.peek() {
            self.at += 1;
            let rhs = self.factor()?;
            value = if op == '*' { value * rhs } else { value / rhs };
        }
        Ok(value)
    }

    /// A signed number with an optional unit, or a parenthesised sum.
    fn factor(&mut self) -> Result<f64, String> {
        let value = match self.peek() {
            Some(Token::Op('-')) => {
                self.at += 1;
                return Ok(-self.factor()?);
            }
            Some(Token::Op('+')) => {
                self.at += 1;
                return self.factor();
            }
            Some(Token::Number(number)) => {
                self.at += 1;
                number
            }
            Some(Token::Open) => {
                self.at += 1;
                let inner = self.sum()?;
                if self.peek() != Some(Token::Close) {
                    return Err("missing `)` in time expression".to_string());
                }
                self.at += 1;
                inner
            }
            _ => return Err("expected a number in time expression".to_string()),
        };
        if let Some(Token::Unit(seconds)) = self.peek() {
            self.at += 1;
            return Ok(value * seconds);
        }
        Ok(value)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn fail2ban_examples() {
        let cases = [
            ("600", 600),
            ("10m", 600),
            ("1h", 3600),
            ("1d12h", 129_600),
            ("1w", 604_800),
            ("-1", -1),
            ("1hour+30min", 5400),
            ("0d 1h 30m", 5400),
            ("1year-6mo", 15_778_800),
            ("6 months", 15_778_800),
            ("1 day", 86_400),
            ("2*10m", 1200),
            (" 30 ", 30),
            ("1.5h", 5400),
        ];
        for (text, seconds) in cases {
            assert_eq!(str_to_seconds(text), Ok(seconds), "{text}");
        }
    }

    #[test]
    fn garbage_is_an_error() {
        for text in ["", "ten", "10 parsecs", "1h +", "(1h", "1;2"] {
            assert!(str_to_seconds(text).is_err(), "{text}");
        }
    }
}
