//! `bantime.formula`: fail2ban evaluates it as a Python expression over `ban.Time`,
//! `ban.Count` and `banFactor` (with `math` in scope). We parse the arithmetic subset of
//! Python those formulas are written in, once at setup, and evaluate it per ban:
//! numbers, `+ - * / // % **`, `<< >>`, comparisons, `and`/`or`/`not`, `x if c else y`,
//! parentheses, and the calls `float int abs min max round` and `math.exp log log2 log10
//! sqrt pow floor ceil`. That covers jail.conf's documented examples. Anything else is
//! refused at setup with the position of what was not understood; no Python runs.
//!
//! Values are `f64` throughout: `<<`/`>>` and `//` work on the integer part, as Python's
//! ints would for the sizes a ban time has.

use crate::policy::IncrementInput;

/// A formula that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bantime.formula {formula:?}: at column {column}: {message}")]
pub struct FormulaError {
    pub formula: String,
    pub column: usize,
    pub message: String,
}

/// A parsed formula.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    expr: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Time,
    Count,
    Factor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    Shl,
    Shr,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Num(f64),
    Var(Var),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
}

const FUNCTIONS: [&str; 15] = [
    "float",
    "int",
    "abs",
    "min",
    "max",
    "round",
    "math.exp",
    "math.log",
    "math.log2",
    "math.log10",
    "math.sqrt",
    "math.pow",
    "math.floor",
    "math.ceil",
    "math.trunc",
];

impl Formula {
    pub fn parse(text: &str) -> Result<Formula, FormulaError> {
        let tokens = tokenize(text).map_err(|(column, message)| FormulaError {
            formula: text.to_string(),
            column,
            message,
        })?;
        let mut parser = Parser { tokens, at: 0 };
        let expr = parser
            .conditional()
            .and_then(|expr| match parser.peek() {
                Some(_) => Err(parser.error("unexpected text after the expression")),
                None => Ok(expr),
            })
            .map_err(|(column, message)| FormulaError {
                formula: text.to_string(),
                column,
                message,
            })?;
        Ok(Formula { expr })
    }

    pub fn evaluate(&self, input: IncrementInput) -> f64 {
        eval(&self.expr, input)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Num(f64),
    Name(String),
    Op(&'static str),
}

const OPERATORS: [&str; 19] = [
    "**", "//", "<<", ">>", "<=", ">=", "==", "!=", "+", "-", "*", "/", "%", "<", ">", "(", ")",
    ",", "~",
];

type Located = (usize, Token);

fn tokenize(text: &str) -> Result<Vec<Located>, (usize, String)> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let c = bytes[at];
        if c.is_ascii_whitespace() {
            at += 1;
        } else if c.is_ascii_digit()
            || (c == b'.' && bytes.get(at + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = at;
            while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'.') {
                // An exponent sign: `1e-3`.
                if matches!(bytes[at], b'e' | b'E')
                    && matches!(bytes.get(at + 1), Some(b'+' | b'-'))
                {
                    at += 1;
                }
                at += 1;
            }
            let number = text[start..at]
                .parse::<f64>()
                .map_err(|_| (start + 1, format!("bad number {:?}", &text[start..at])))?;
            tokens.push((start + 1, Token::Num(number)));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = at;
            while at < bytes.len()
                && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_' || bytes[at] == b'.')
            {
                at += 1;
            }
            tokens.push((start + 1, Token::Name(text[start..at].to_string())));
        } else if let Some(op) = OPERATORS.iter().find(|op| text[at..].starts_with(**op)) {
            tokens.push((at + 1, Token::Op(op)));
            at += op.len();
        } else {
            let shown = text[at..].chars().next().unwrap_or('?');
            return Err((at + 1, format!("unsupported character {shown:?}")));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Located>,
    at: usize,
}

type Parsed = Result<Expr, (usize, String)>;

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, token)| token)
    }

    fn column(&self) -> usize {
        self.tokens
            .get(self.at)
            .or(self.tokens.last())
            .map_or(1, |(column, _)| *column)
    }

    fn error(&self, message: &str) -> (usize, String) {
        (self.column(), message.to_string())
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if self.peek() == Some(&Token::Op(match_op(op))) {
            self.at += 1;
            return true;
        }
        false
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Name(name)) if name == word) {
            self.at += 1;
            return true;
        }
        false
    }

    /// `x if c else y`, Python's lowest precedence.
    fn conditional(&mut self) -> Parsed {
        let then = self.or()?;
        if !self.eat_word("if") {
            return Ok(then);
        }
        let condition = self.or()?;
        if !self.eat_word("else") {
            return Err(self.error("expected `else`"));
        }
        let otherwise = self.conditional()?;
        Ok(Expr::Cond(
            Box::new(condition),
            Box::new(then),
            Box::new(otherwise),
        ))
    }

    fn or(&mut self) -> Parsed {
        let mut left = self.and()?;
        while self.eat_word("or") {
            left = Expr::Binary(BinOp::Or, Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Parsed {
        let mut left = self.not()?;
        while self.eat_word("and") {
            left = Expr::Binary(BinOp::And, Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Parsed {
        if self.eat_word("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Parsed {
        let left = self.binary(0)?;
        for (op, kind) in [
            ("<=", BinOp::Le),
            (">=", BinOp::Ge),
            ("==", BinOp::Eq),
            ("!=", BinOp::Ne),
            ("<", BinOp::Lt),
            (">", BinOp::Gt),
        ] {
            if self.eat_op(op) {
                return Ok(Expr::Binary(
                    kind,
                    Box::new(left),
                    Box::new(self.binary(0)?),
                ));
            }
        }
        Ok(left)
    }

    /// Left-associative levels: shifts, then sums, then products.
    fn binary(&mut self, level: usize) -> Parsed {
        const LEVELS: [&[(&str, BinOp)]; 3] = [
            &[("<<", BinOp::Shl), (">>", BinOp::Shr)],
            &[("+", BinOp::Add), ("-", BinOp::Sub)],
            &[
                ("*", BinOp::Mul),
                ("//", BinOp::FloorDiv),
                ("/", BinOp::Div),
                ("%", BinOp::Mod),
            ],
        ];
        let Some(ops) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut left = self.binary(level + 1)?;
        'outer: loop {
            for (op, kind) in ops.iter() {
                if self.eat_op(op) {
                    let right = self.binary(level + 1)?;
                    left = Expr::Binary(*kind, Box::new(left), Box::new(right));
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }

    fn unary(&mut self) -> Parsed {
        if self.eat_op("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat_op("+") {
            return self.unary();
        }
        self.power()
    }

    /// `**` binds tighter than a unary minus on its left and is right-associative.
    fn power(&mut self) -> Parsed {
        let base = self.primary()?;
        if self.eat_op("**") {
            let exponent = self.unary()?;
            return Ok(Expr::Binary(BinOp::Pow, Box::new(base), Box::new(exponent)));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Parsed {
        let column = self.column();
        let Some((_, token)) = self.tokens.get(self.at).cloned() else {
            return Err((column, "unexpected end of the formula".to_string()));
        };
        self.at += 1;
        match token {
            Token::Num(value) => Ok(Expr::Num(value)),
            Token::Op("(") => {
                let inner = self.conditional()?;
                if !self.eat_op(")") {
                    return Err(self.error("expected `)`"));
                }
                Ok(inner)
            }
            Token::Name(name) => self.name(name, column),
            Token::Op(op) => Err((column, format!("unexpected {op:?}"))),
        }
    }

    fn name(&mut self, name: String, column: usize) -> Parsed {
        let variable = match name.as_str() {
            "ban.Time" => Some(Var::Time),
            "ban.Count" => Some(Var::Count),
            "banFactor" => Some(Var::Factor),
            "True" => return Ok(Expr::Num(1.0)),
            "False" => return Ok(Expr::Num(0.0)),
            "math.e" => return Ok(Expr::Num(std::f64::consts::E)),
            "math.pi" => return Ok(Expr::Num(std::f64::consts::PI)),
            _ => None,
        };
        if let Some(variable) = variable {
            return Ok(Expr::Var(variable));
        }
        if !FUNCTIONS.contains(&name.as_str()) || !self.eat_op("(") {
            return Err((
                column,
                format!(
                    "unknown name {name:?} (known: ban.Time, ban.Count, banFactor, \
                     math.*, {})",
                    FUNCTIONS[..6].join(", ")
                ),
            ));
        }
        let mut args = Vec::new();
        if !self.eat_op(")") {
            loop {
                args.push(self.conditional()?);
                if self.eat_op(")") {
                    break;
                }
                if !self.eat_op(",") {
                    return Err(self.error("expected `,` or `)`"));
                }
            }
        }
        let wanted = match name.as_str() {
            "min" | "max" => 1..=usize::MAX,
            "math.pow" => 2..=2,
            "round" | "math.log" => 1..=2,
            _ => 1..=1,
        };
        if !wanted.contains(&args.len()) {
            return Err((column, format!("{name} takes {wanted:?} arguments")));
        }
        Ok(Expr::Call(name, args))
    }
}

/// The `&'static str` of an operator, to compare tokens.
fn match_op(op: &str) -> &'static str {
    OPERATORS.iter().find(|o| **o == op).copied().unwrap_or("")
}

fn truth(value: f64) -> bool {
    value != 0.0 && !value.is_nan()
}

fn eval(expr: &Expr, input: IncrementInput) -> f64 {
    match expr {
        Expr::Num(value) => *value,
        Expr::Var(Var::Time) => input.time,
        Expr::Var(Var::Count) => f64::from(input.count),
        Expr::Var(Var::Factor) => input.factor,
        Expr::Neg(inner) => -eval(inner, input),
        Expr::Not(inner) => f64::from(u8::from(!truth(eval(inner, input)))),
        Expr::Cond(condition, then, otherwise) => {
            if truth(eval(condition, input)) {
                eval(then, input)
            } else {
                eval(otherwise, input)
            }
        }
        Expr::Binary(op, left, right) => binary(*op, left, right, input),
        Expr::Call(name, args) => {
            let values: Vec<f64> = args.iter().map(|a| eval(a, input)).collect();
            call(name, &values)
        }
    }
}

fn binary(op: BinOp, left: &Expr, right: &Expr, input: IncrementInput) -> f64 {
    let a = eval(left, input);
    // Short-circuit as Python does (the value of `and`/`or` is an operand).
    match op {
        BinOp::And if !truth(a) => return a,
        BinOp::Or if truth(a) => return a,
        _ => {}
    }
    let b = eval(right, input);
    let flag = |holds: bool| f64::from(u8::from(holds));
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::FloorDiv => (a / b).floor(),
        BinOp::Mod => a - b * (a / b).floor(),
        BinOp::Pow => a.powf(b),
        BinOp::Shl => a.trunc() * 2f64.powf(b.trunc().clamp(0.0, 1023.0)),
        BinOp::Shr => (a.trunc() / 2f64.powf(b.trunc().clamp(0.0, 1023.0))).floor(),
        BinOp::Lt => flag(a < b),
        BinOp::Le => flag(a <= b),
        BinOp::Gt => flag(a > b),
        BinOp::Ge => flag(a >= b),
        BinOp::Eq => flag(a == b),
        BinOp::Ne => flag(a != b),
        BinOp::And | BinOp::Or => b,
    }
}

fn call(name: &str, args: &[f64]) -> f64 {
    let first = args.first().copied().unwrap_or(f64::NAN);
    let second = args.get(1).copied();
    match name {
        "float" => first,
        "int" | "math.trunc" => first.trunc(),
        "abs" => first.abs(),
        "min" => args.iter().copied().fold(f64::INFINITY, f64::min),
        "max" => args.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        "round" => {
            let scale = 10f64.powf(second.unwrap_or(0.0).trunc());
            (first * scale).round_ties_even() / scale
        }
        "math.exp" => first.exp(),
        "math.log" => second.map_or(first.ln(), |base| first.ln() / base.ln()),
        "math.log2" => first.log2(),
        "math.log10" => first.log10(),
        "math.sqrt" => first.sqrt(),
        "math.pow" => first.powf(second.unwrap_or(1.0)),
        "math.floor" => first.floor(),
        "math.ceil" => first.ceil(),
        _ => f64::NAN,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn run(text: &str, time: f64, count: u32, factor: f64) -> f64 {
        Formula::parse(text).unwrap().evaluate(IncrementInput {
            time,
            count,
            factor,
        })
    }

    #[test]
    fn jail_conf_examples() {
        let default = "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor";
        assert_eq!(run(default, 600.0, 0, 1.0), 600.0);
        assert_eq!(run(default, 600.0, 3, 1.0), 4800.0);
        assert_eq!(run(default, 600.0, 25, 1.0), 600.0 * f64::from(1u32 << 20));
        let exp = "ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)";
        let factor = 2.0 / 2.885385;
        for count in 0..5 {
            // "the same values [as the default] only for factor 2.0 / 2.885385"
            let doubled = 600.0 * f64::from(1u32 << count);
            let value = run(exp, 600.0, count, factor);
            assert!((value - doubled).abs() / doubled < 1e-5, "{count}: {value}");
        }
    }

    #[test]
    fn python_precedence_and_operators() {
        assert_eq!(run("-2 ** 2", 0.0, 0, 0.0), -4.0);
        assert_eq!(run("2 ** 3 ** 2", 0.0, 0, 0.0), 512.0);
        assert_eq!(run("7 // 2 + 7 % 3 - 1 << 1", 0.0, 0, 0.0), 6.0);
        assert_eq!(run("-7 // 2", 0.0, 0, 0.0), -4.0);
        assert_eq!(run("-7 % 3", 0.0, 0, 0.0), 2.0);
        assert_eq!(
            run(
                "max(ban.Time, 60) if not ban.Count else min(1, 2, 3)",
                30.0,
                0,
                0.0
            ),
            60.0
        );
        assert_eq!(
            run("1 if ban.Count > 1 and banFactor == 2 else 0", 0.0, 2, 2.0),
            1.0
        );
        assert_eq!(run("round(2.5) + int(3.9) + abs(-1)", 0.0, 0, 0.0), 6.0);
    }

    #[test]
    fn what_is_not_arithmetic_is_refused_with_a_column() {
        let error = Formula::parse("ban.Time * os.system(1)").unwrap_err();
        assert_eq!(error.column, 12, "{error}");
        assert!(error.message.contains("unknown name"), "{error}");
        let error = Formula::parse("ban.Time * __import__('os')").unwrap_err();
        assert_eq!(error.column, 23, "{error}");
        let error = Formula::parse("ban.Time * ").unwrap_err();
        assert!(error.message.contains("end"), "{error}");
        assert!(Formula::parse("ban.Time; 1").is_err());
        assert!(Formula::parse("math.pow(2)").is_err());
        assert!(Formula::parse("(1").is_err());
    }
}
