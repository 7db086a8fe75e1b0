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

/// Like [`glob_match`], but `*` and `?` match no `/`: each `/`-separated part of the pattern
/// matches one part of the text (`role/deploy-*` matches `role/deploy-ci`, not
/// `role/deploy-x/admin`).
pub fn segment_glob(pattern: &str, text: &str) -> bool {
    pattern.split('/').count() == text.split('/').count()
        && pattern
            .split('/')
            .zip(text.split('/'))
            .all(|(p, t)| glob_match(p, t))
}

/// True when `arn` matches the ARN glob `pattern` field by field: the five `:`-separated
/// fields before the resource and the resource's `/`-separated parts each match on their
/// own. So `arn:aws:iam::*:role/responder` matches that role in any account, but neither a
/// user whose path holds `:role/` (`…:user/x:role/responder`; IAM paths may hold `:`) nor a
/// role of that name under another path.
pub fn arn_glob_match(pattern: &str, arn: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    p.len() == 6
        && a.len() == 6
        && p[..5].iter().zip(&a[..5]).all(|(p, a)| glob_match(p, a))
        && segment_glob(p[5], a[5])
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

    #[test]
    fn arn_globs_match_field_by_field() {
        let any_account = "arn:aws:iam::*:role/responder";
        assert!(arn_glob_match(
            any_account,
            "arn:aws:iam::111122223333:role/responder"
        ));
        assert!(!arn_glob_match(
            any_account,
            "arn:aws:iam::111122223333:user/x:role/responder"
        ));
        assert!(!arn_glob_match(
            any_account,
            "arn:aws:iam::111122223333:role/x/responder"
        ));
        assert!(!arn_glob_match(any_account, "arn:aws:iam::111122223333"));
        assert!(glob_match(
            any_account,
            "arn:aws:iam::1:user/x:role/responder"
        ));
        assert!(arn_glob_match(
            "arn:aws:iam::1:role/deploy-*",
            "arn:aws:iam::1:role/deploy-ci"
        ));
        assert!(!segment_glob("role/deploy-*", "role/deploy-x/admin"));
        assert!(segment_glob("role/*/admin", "role/x/admin"));
    }
}
