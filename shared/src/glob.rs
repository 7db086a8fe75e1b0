//! Glob matching for approval lists and exemptions: `*` matches any run of characters
//! (including `/` and `:`), `?` matches one character. Matching is case-sensitive, as IAM
//! names and ARNs are.

/// True when `text` matches `pattern`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The first pattern in `patterns` that matches `text`.
pub fn first_match<'a>(patterns: &'a [String], text: &str) -> Option<&'a str> {
    patterns
        .iter()
        .find(|p| glob_match(p, text))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("svc-*", "svc-backup"));
        assert!(!glob_match("svc-*", "admin"));
        assert!(glob_match(
            "arn:aws:iam::*:role/terraform",
            "arn:aws:iam::111122223333:role/terraform"
        ));
        assert!(!glob_match(
            "arn:aws:iam::*:role/terraform",
            "arn:aws:iam::111122223333:role/terraform-evil"
        ));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*a*b*", "xxaxxbxx"));
        assert!(!glob_match("", "x"));
        assert!(!glob_match("Admin", "admin"));
    }
}
