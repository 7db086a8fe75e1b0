//! The condition: tokenised, parsed, and brought to a disjunction of conjunctions over the
//! named selections.

use super::detection::{Conj, Dnf, Expr};
use super::selection::selection_dnf;
use super::values::{and_alts, negate_alts};
use super::*;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Open,
    Close,
    Word(String),
}

pub(super) fn tokenize(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |w: &mut String, out: &mut Vec<Tok>| {
        if !w.is_empty() {
            out.push(Tok::Word(std::mem::take(w)));
        }
    };
    for c in s.chars() {
        match c {
            '(' | ')' => {
                flush(&mut word, &mut out);
                out.push(if c == '(' { Tok::Open } else { Tok::Close });
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

pub(super) fn parse_condition(text: &str, names: &[String]) -> R<Expr> {
    let mut p = Parser {
        toks: tokenize(text),
        pos: 0,
        names,
        text,
    };
    if p.toks.is_empty() {
        return Err("the condition is empty".into());
    }
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err(format!(
            "condition \"{}\": unexpected {} after a complete expression",
            text.trim(),
            p.describe(p.pos)
        ));
    }
    Ok(e)
}

pub(super) struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    names: &'a [String],
    text: &'a str,
}

impl Parser<'_> {
    fn describe(&self, i: usize) -> String {
        match self.toks.get(i) {
            Some(Tok::Open) => "\"(\"".into(),
            Some(Tok::Close) => "\")\"".into(),
            Some(Tok::Word(w)) => format!("\"{w}\""),
            None => "the end".into(),
        }
    }

    fn err(&self, what: impl fmt::Display) -> String {
        format!("condition \"{}\": {what}", self.text.trim())
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn or(&mut self) -> R<Expr> {
        self.joined("or", Self::and, Expr::Or)
    }

    fn and(&mut self) -> R<Expr> {
        self.joined("and", Self::not, Expr::And)
    }

    /// Operands read by `operand`, joined by the keyword `word` into `all` (one operand alone
    /// is itself).
    fn joined(
        &mut self,
        word: &str,
        operand: fn(&mut Self) -> R<Expr>,
        all: fn(Vec<Expr>) -> Expr,
    ) -> R<Expr> {
        let mut parts = vec![operand(self)?];
        while self.keyword(word) {
            self.pos += 1;
            parts.push(operand(self)?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one")
        } else {
            all(parts)
        })
    }

    fn not(&mut self) -> R<Expr> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> R<Expr> {
        let at = self.pos;
        match self.toks.get(at).cloned() {
            Some(Tok::Open) => {
                self.pos += 1;
                let e = self.or()?;
                if self.toks.get(self.pos) != Some(&Tok::Close) {
                    return Err(
                        self.err(format!("expected \")\", found {}", self.describe(self.pos)))
                    );
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Word(w)) => {
                self.pos += 1;
                let lower = w.to_ascii_lowercase();
                if self.keyword("of") {
                    self.pos += 1;
                    let Some(Tok::Word(target)) = self.toks.get(self.pos).cloned() else {
                        return Err(self.err(format!("\"{w} of\" without selection names")));
                    };
                    self.pos += 1;
                    let all = match lower.as_str() {
                        "1" | "any" => false,
                        "all" => true,
                        _ => {
                            return Err(self.err(format!(
                                "\"{w} of\": only \"1 of\", \"any of\" and \"all of\" are supported"
                            )))
                        }
                    };
                    let picked: Vec<Expr> = self
                        .names
                        .iter()
                        .filter(|n| {
                            if target.eq_ignore_ascii_case("them") {
                                !n.starts_with('_')
                            } else {
                                crate::glob::glob_match(&target, n)
                            }
                        })
                        .map(|n| Expr::Sel(n.clone()))
                        .collect();
                    if picked.is_empty() {
                        return Err(self.err(format!("\"{w} of {target}\" names no selection")));
                    }
                    return Ok(if picked.len() == 1 {
                        picked.into_iter().next().expect("one")
                    } else if all {
                        Expr::And(picked)
                    } else {
                        Expr::Or(picked)
                    });
                }
                if matches!(lower.as_str(), "and" | "or" | "not" | "of" | "them") {
                    return Err(self.err(format!("unexpected \"{w}\"")));
                }
                if self.names.contains(&w) {
                    Ok(Expr::Sel(w))
                } else {
                    Err(self.err(format!("names {w:?}, which is not a selection of the rule")))
                }
            }
            _ => Err(self.err(format!("expected a selection, found {}", self.describe(at)))),
        }
    }
}

/// The rule's selections, converted when the condition first uses them.
pub(super) struct Selections<'a> {
    pub(super) raw: &'a Map<String, Value>,
    pub(super) cache: BTreeMap<String, Dnf>,
}

impl Selections<'_> {
    fn selection(&mut self, name: &str) -> R<Dnf> {
        if let Some(d) = self.cache.get(name) {
            return Ok(d.clone());
        }
        let d = selection_dnf(name, &self.raw[name]).map_err(|m| {
            if m.starts_with("selection ") {
                m
            } else {
                format!("selection {name}: {m}")
            }
        })?;
        self.cache.insert(name.to_string(), d.clone());
        Ok(d)
    }

    /// The expression (negated when `neg`) as a disjunction of conjunctions.
    pub(super) fn dnf(&mut self, e: &Expr, neg: bool) -> R<Dnf> {
        match (e, neg) {
            (Expr::Sel(n), false) => self.selection(n),
            (Expr::Sel(n), true) => {
                let d = self.selection(n)?;
                negate_dnf(&d).map_err(|m| format!("not {n}: {m}"))
            }
            (Expr::Not(inner), _) => self.dnf(inner, !neg),
            (Expr::And(xs), false) | (Expr::Or(xs), true) => {
                let mut acc: Dnf = vec![Conj::new()];
                for x in xs {
                    let d = self.dnf(x, neg)?;
                    acc = and_dnf(&acc, &d)?;
                }
                Ok(acc)
            }
            (Expr::Or(xs), false) | (Expr::And(xs), true) => {
                let mut acc: Dnf = Vec::new();
                for x in xs {
                    for c in self.dnf(x, neg)? {
                        if !acc.contains(&c) {
                            acc.push(c);
                        }
                    }
                    check_size(acc.len())?;
                }
                Ok(acc)
            }
        }
    }
}

pub(super) fn check_size(n: usize) -> R<()> {
    if n > MAX_CLAUSES {
        Err(format!(
            "the condition expands to more than {MAX_CLAUSES} alternatives"
        ))
    } else {
        Ok(())
    }
}

pub(super) fn and_dnf(a: &Dnf, b: &Dnf) -> R<Dnf> {
    let mut out: Dnf = Vec::new();
    for x in a {
        for y in b {
            if let Some(c) = and_conj(x, y)? {
                if !out.contains(&c) {
                    out.push(c);
                    check_size(out.len())?;
                }
            }
        }
    }
    Ok(out)
}

/// Both conjunctions; `None` when they can never hold together.
pub(super) fn and_conj(x: &Conj, y: &Conj) -> R<Option<Conj>> {
    let mut out = x.clone();
    for (path, alts) in y {
        let merged = match out.get(path) {
            None => alts.clone(),
            Some(have) => match and_alts(path, have, alts)? {
                Some(m) => m,
                None => return Ok(None),
            },
        };
        out.insert(path.clone(), merged);
    }
    Ok(Some(out))
}

pub(super) fn negate_dnf(d: &Dnf) -> R<Dnf> {
    let mut acc: Dnf = vec![Conj::new()];
    for clause in d {
        let mut any: Dnf = Vec::new();
        for (path, alts) in clause {
            let n = negate_alts(path, alts)?;
            if !n.is_empty() {
                any.push(Conj::from([(path.clone(), n)]));
            }
        }
        acc = and_dnf(&acc, &any)?;
    }
    Ok(acc)
}
