//! Sigma conditions: search identifiers combined with `and`, `or`, `not`, parentheses,
//! and `1 of` / `all of` a name pattern (`selection_*`) or `them`. `not` binds tightest,
//! then `and`, then `or`. `near` and the old aggregation pipe (`| count() > 5`) are not
//! supported: correlation rules say that instead.

/// A condition over search indices.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Search(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

/// Longest condition text accepted.
pub const MAX_CONDITION_BYTES: usize = 4096;
const MAX_NESTING: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    Open,
    Close,
    And,
    Or,
    Not,
    One,
    All,
    Of,
    Word(&'a str),
}

fn tokenize(s: &str) -> Result<Vec<Tok<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else {
            return Ok(out);
        };
        match c {
            '(' => {
                out.push(Tok::Open);
                rest = &rest[1..];
            }
            ')' => {
                out.push(Tok::Close);
                rest = &rest[1..];
            }
            '|' => {
                return Err(
                    "aggregation expressions (`| count() ...`) are not supported; \
                            write a correlation rule"
                        .into(),
                )
            }
            _ => {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == '|')
                    .unwrap_or(rest.len());
                let w = &rest[..end];
                rest = &rest[end..];
                out.push(match w.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "1" => Tok::One,
                    "all" => Tok::All,
                    "of" => Tok::Of,
                    "near" => return Err("`near` is not supported".into()),
                    _ => {
                        if !w
                            .chars()
                            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '*' | '.'))
                        {
                            return Err(format!("unexpected `{w}` in condition"));
                        }
                        Tok::Word(w)
                    }
                });
            }
        }
    }
}

struct Parser<'a, 'n> {
    toks: Vec<Tok<'a>>,
    pos: usize,
    names: &'n [String],
    depth: usize,
}

/// Parses `s` against the rule's search identifiers `names`.
pub fn parse(s: &str, names: &[String]) -> Result<Cond, String> {
    if s.len() > MAX_CONDITION_BYTES {
        return Err(format!("condition longer than {MAX_CONDITION_BYTES} bytes"));
    }
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Err("empty condition".into());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        names,
        depth: 0,
    };
    let c = p.or()?;
    if let Some(t) = p.toks.get(p.pos) {
        return Err(format!("unexpected {t:?} in condition"));
    }
    Ok(c)
}

/// Whether `name` matches the identifier pattern `pat` (`*` any run).
pub fn name_matches(pat: &str, name: &str) -> bool {
    fn rec(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| rec(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && rec(rest, &n[1..]),
        }
    }
    rec(pat.as_bytes(), name.as_bytes())
}

impl<'a> Parser<'a, '_> {
    fn peek(&self) -> Option<&Tok<'a>> {
        self.toks.get(self.pos)
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::Or(items)
        })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.unary()?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::And(items)
        })
    }

    fn unary(&mut self) -> Result<Cond, String> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err("condition nested too deeply".into());
        }
        let tok = self.peek().cloned();
        self.pos += 1;
        let out = match tok {
            Some(Tok::Not) => Ok(Cond::Not(Box::new(self.unary()?))),
            Some(Tok::Open) => {
                let c = self.or()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err("missing `)` in condition".into());
                }
                self.pos += 1;
                Ok(c)
            }
            Some(t @ (Tok::One | Tok::All)) => {
                if self.peek() != Some(&Tok::Of) {
                    return Err("expected `of` after `1` / `all`".into());
                }
                self.pos += 1;
                let Some(Tok::Word(pat)) = self.peek().cloned() else {
                    return Err("expected a name pattern or `them` after `of`".into());
                };
                self.pos += 1;
                let idx: Vec<usize> = if pat.eq_ignore_ascii_case("them") {
                    (0..self.names.len())
                        .filter(|&i| !self.names[i].starts_with('_'))
                        .collect()
                } else {
                    (0..self.names.len())
                        .filter(|&i| name_matches(pat, &self.names[i]))
                        .collect()
                };
                if idx.is_empty() {
                    return Err(format!("`{pat}` names no search identifier"));
                }
                let items = idx.into_iter().map(Cond::Search).collect::<Vec<_>>();
                Ok(match (t, items.len()) {
                    (_, 1) => items.into_iter().next().unwrap_or(Cond::Or(vec![])),
                    (Tok::One, _) => Cond::Or(items),
                    _ => Cond::And(items),
                })
            }
            Some(Tok::Word(w)) => match self.names.iter().position(|n| n == w) {
                Some(i) => Ok(Cond::Search(i)),
                None => Err(format!(
                    "condition names `{w}`, which is not a search identifier"
                )),
            },
            Some(t) => Err(format!("unexpected {t:?} in condition")),
            None => Err("condition ends early".into()),
        };
        self.depth -= 1;
        out
    }
}

impl Cond {
    /// Evaluates with `search(i)` giving search `i`'s result (short-circuit).
    #[inline]
    pub fn eval(&self, search: &mut impl FnMut(usize) -> bool) -> bool {
        match self {
            Cond::Search(i) => search(*i),
            Cond::Not(c) => !c.eval(search),
            Cond::And(items) => items.iter().all(|c| c.eval(search)),
            Cond::Or(items) => items.iter().any(|c| c.eval(search)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        [
            "selection",
            "selection_img",
            "selection_cli",
            "filter_main_a",
            "filter_main_b",
            "_x",
        ]
        .map(String::from)
        .to_vec()
    }

    fn eval(cond: &str, truth: &[bool]) -> bool {
        parse(cond, &names()).unwrap().eval(&mut |i| truth[i])
    }

    #[test]
    fn precedence_and_groups() {
        let t = [true, false, true, false, false, false];
        assert!(eval("selection and not filter_main_a", &t));
        assert!(eval("selection_img or selection and selection_cli", &t));
        assert!(!eval("(selection_img or selection) and filter_main_a", &t));
        assert!(eval("not selection_img and NOT filter_main_b", &t));
        assert!(eval("1 of selection_*", &t));
        assert!(!eval("all of selection_*", &t));
        assert!(eval("selection and not 1 of filter_main_*", &t));
        assert!(!eval("all of them", &t));
        assert!(eval("1 of them", &t));
        assert!(eval(
            "all of selection*",
            &[true, true, true, false, false, false]
        ));
    }

    #[test]
    fn errors() {
        let n = names();
        assert!(parse("selection and", &n)
            .unwrap_err()
            .contains("ends early"));
        assert!(parse("selection | count() > 5", &n)
            .unwrap_err()
            .contains("aggregation"));
        assert!(parse("nope", &n).unwrap_err().contains("nope"));
        assert!(parse("1 of zzz_*", &n).unwrap_err().contains("zzz_*"));
        assert!(parse("(selection", &n).unwrap_err().contains(")"));
        assert!(parse("selection near filter_main_a", &n).is_err());
        assert!(parse(&"(".repeat(100), &n).is_err());
    }
}
