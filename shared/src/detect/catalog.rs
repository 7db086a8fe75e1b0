//! A compiled, indexed set of detections: the built-in catalog, user files merged by id,
//! and matching one record.

use super::detection::valid_family;
use super::detection::CatalogError;
use super::detection::{ExampleSet, Examples};
use super::index::{FxMap, Index};
use super::{BuiltinOptions, Detection, BUILTIN_FILES, BUILT_IN, CIS_4_2_ID, CUSTOM_FAMILY};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

/// A compiled, indexed set of detections. Cloning is cheap (the parts are shared), so every
/// function's configuration can hold the catalog by value.
#[derive(Debug, Clone)]
pub struct Catalog {
    detections: Arc<Vec<Detection>>,
    pub(crate) index: Arc<Index>,
    /// Family name to the description its file gives (built-in files all have one).
    family_descriptions: Arc<BTreeMap<String, String>>,
}

/// A built-in detection file as the catalog is compiled from it: the entries without their
/// `examples` ([`builtin_examples`] reads those).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BuiltinFile {
    family: String,
    description: String,
    detections: Vec<WithoutExamples>,
}

/// A detection object with its `examples` skipped, unparsed.
struct WithoutExamples(Value);

impl<'de> serde::Deserialize<'de> for WithoutExamples {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = WithoutExamples;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a detection object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<WithoutExamples, A::Error> {
                let mut out = serde_json::Map::new();
                while let Some(k) = m.next_key::<String>()? {
                    if k == "examples" {
                        m.next_value::<serde::de::IgnoredAny>()?;
                    } else {
                        out.insert(k, m.next_value()?);
                    }
                }
                Ok(WithoutExamples(Value::Object(out)))
            }
        }
        d.deserialize_map(Entry)
    }
}

/// The examples the built-in files give detection `id` (none for an id they do not have),
/// read from every built-in file the first time any is asked for.
pub(super) fn builtin_examples(id: &str) -> &'static Examples {
    static EMPTY: Examples = Examples {
        matching: Vec::new(),
        no_match: Vec::new(),
    };
    static ALL: OnceLock<BTreeMap<String, Examples>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let mut all = BTreeMap::new();
        for (_, text) in BUILTIN_FILES {
            let (_, list) = parse_list(text, BUILT_IN).expect("built-in catalog parses");
            for (i, d) in list.into_iter().enumerate() {
                let mut d = entry(d, BUILT_IN, i).expect("built-in entries parse");
                let id = d["id"]
                    .as_str()
                    .expect("built-in ids are strings")
                    .to_string();
                let examples = d
                    .get_mut("examples")
                    .map(|e| serde_json::from_value(e.take()).expect("built-in examples parse"))
                    .unwrap_or_default();
                all.insert(id, examples);
            }
        }
        all
    });
    all.get(id).unwrap_or(&EMPTY)
}

/// What a detection file holds besides its entries.
struct FileHead {
    family: Option<String>,
    description: Option<String>,
}

/// The id of the detection [`Catalog::with_deployer_roles`] adds: a role created, or a trust
/// policy changed, that would carry the deployment roles' exemption to someone else.
pub const DEPLOYER_GUARD_ID: &str = "deployer-role-created-or-trust-changed";

/// `superseded_by` (resolved to indices) names no threshold detection and has no cycle: in a
/// cycle, a record matching all its detections would be reported by none.
fn check_superseding(detections: &[Detection], by: &[Vec<usize>]) -> Result<(), CatalogError> {
    let fail = |d: &Detection, message: String| CatalogError {
        origin: d.origin.clone(),
        id: Some(d.id.clone()),
        index: None,
        message,
    };
    for (i, d) in detections.iter().enumerate() {
        if let Some(&t) = by[i].iter().find(|&&s| detections[s].threshold.is_some()) {
            return Err(fail(
                d,
                format!(
                    "superseded_by names {:?}, a threshold detection (it may match without reporting)",
                    detections[t].id
                ),
            ));
        }
        // Walk the detections that supersede this one, and theirs: none may lead back here.
        if by[i].is_empty() {
            continue;
        }
        let mut seen = vec![false; detections.len()];
        let mut stack = by[i].clone();
        while let Some(s) = stack.pop() {
            if s == i {
                return Err(fail(d, "superseded_by forms a cycle".into()));
            }
            if !std::mem::replace(&mut seen[s], true) {
                stack.extend(&by[s]);
            }
        }
    }
    Ok(())
}

/// The built-in detection of the security-group exemption tag being set or removed.
pub const EXEMPT_TAG_DETECTION: &str = "ec2-security-group-exempt-tag-changed";
/// security-group's default `EXEMPT_TAG`: the key the built-in detection watches.
pub const DEFAULT_EXEMPT_TAG: &str = "trailwarden:exempt";

/// The id of the detection [`Catalog::with_approved_creators`] adds: a role created, or a
/// trust policy changed, that would let someone else create IAM users unapproved-user keeps.
pub const CREATOR_GUARD_ID: &str = "approved-creator-role-created-or-trust-changed";

/// A high detection of roles that carry trust: one created whose ARN fits a pattern of `roles`
/// (read as a `wildcard`, so a pattern's `*` also matches a path: `role/terraform*` covers
/// `role/terraform-x/evil`), or a role whose name fits a pattern's last segment
/// (UpdateAssumeRolePolicy names the role only).
fn role_guard<S: AsRef<str>>(id: &str, title: &str, description: &str, roles: &[S]) -> Value {
    let names: Vec<Value> = roles
        .iter()
        .filter_map(|r| r.as_ref().rsplit('/').next())
        .map(|n| serde_json::json!({"wildcard": n}))
        .collect();
    let arns: Vec<Value> = roles
        .iter()
        .map(|r| serde_json::json!({"wildcard": r.as_ref()}))
        .collect();
    serde_json::json!({
        "id": id,
        "title": title,
        "severity": "high",
        "family": "identity",
        "description": description,
        "runbook": "Check that the change came from the pipeline that owns the role; read the \
                    new trust policy (requestParameters.policyDocument or \
                    assumeRolePolicyDocument) for principals outside your pipelines. If \
                    nobody expected it, restore the trust policy, delete the role and review \
                    what its sessions did.",
        "references": {"mitre_attack": ["T1098.003"]},
        "pattern": {
            "eventSource": ["iam.amazonaws.com"],
            "eventName": ["CreateRole", "UpdateAssumeRolePolicy"],
            "errorCode": [{"exists": false}],
            "$or": [
                {"responseElements": {"role": {"arn": arns}}},
                {"requestParameters": {"roleName": names}}
            ]
        }
    })
}

/// An IAM role ARN, `*` allowed: `arn:<partition>:iam::<account or *>:role/<path and name>`
/// (a deployment role of `DEPLOYER_ROLE_ARNS`; one naming every role is not).
pub fn valid_role_arn(r: &str) -> bool {
    let mut parts = r.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    (partition.starts_with("aws") || partition == "*")
        && (account == "*" || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
        && resource
            .strip_prefix("role/")
            .is_some_and(|n| n.bytes().any(|b| b != b'*' && b != b'/'))
        && !r.bytes().any(|b| b.is_ascii_whitespace() || b == b',')
}

/// A detection file: `{"family": ..., "description": ..., "detections": [...]}` (family and
/// description optional) or a bare array. Returns the file's family and description, and its
/// entries as written: each is parsed when it is compiled, so a large file is never held as
/// one parsed tree (a parsed entry takes several times the memory of its text).
fn parse_list<'t>(
    text: &'t str,
    origin: &str,
) -> Result<(FileHead, Vec<&'t RawValue>), CatalogError> {
    let whole = |m: String| CatalogError {
        origin: origin.to_string(),
        id: None,
        index: None,
        message: m,
    };
    let invalid = |e: serde_json::Error| whole(format!("not valid JSON: {e}"));
    // One pass over the text splits it into its entries and checks the syntax of all of it
    // (a raw value is checked as it is read), so a syntax error anywhere is reported as such
    // before anything is compiled.
    let array = |raw: &'t str| serde_json::from_str::<Vec<&'t RawValue>>(raw);
    let no_head = FileHead {
        family: None,
        description: None,
    };
    match text.trim_start().as_bytes().first() {
        Some(b'[') => Ok((no_head, array(text).map_err(invalid)?)),
        Some(b'{') => {
            let mut m: BTreeMap<String, &'t RawValue> =
                serde_json::from_str(text).map_err(invalid)?;
            let known = ["detections", "family", "description"];
            if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
                return Err(whole(format!(
                    "unknown top-level key {k:?} (expected \"detections\", and optionally \"family\" and \"description\")"
                )));
            }
            let value = |raw: &RawValue| serde_json::from_str::<Value>(raw.get()).map_err(invalid);
            let family = match m.remove("family").map(value).transpose()? {
                None => None,
                Some(Value::String(f)) if valid_family(&f) => Some(f),
                Some(f) => {
                    return Err(whole(format!(
                        "\"family\" {f} is not a name such as \"identity\" (lower-case letters, digits, '-')"
                    )))
                }
            };
            let description = match m.remove("description").map(value).transpose()? {
                None => None,
                Some(Value::String(d)) => Some(d).filter(|d| !d.trim().is_empty()),
                Some(_) => return Err(whole("\"description\" must be a string".into())),
            };
            match m.remove("detections") {
                Some(raw) if raw.get().starts_with('[') => Ok((
                    FileHead {
                        family,
                        description,
                    },
                    array(raw.get()).map_err(invalid)?,
                )),
                Some(_) => Err(whole("\"detections\" must be an array".into())),
                None => Err(whole("expected {\"detections\": [...]}".into())),
            }
        }
        // Anything else: a syntax error, or JSON of the wrong shape.
        _ => Err(match serde_json::from_str::<&RawValue>(text) {
            Err(e) => invalid(e),
            Ok(_) => whole("expected {\"detections\": [...]} or an array of detections".into()),
        }),
    }
}

/// One entry of a file read by [`parse_list`], parsed. Its syntax was checked with the file's,
/// but a number out of range (`1e400`) is only found here.
fn entry(raw: &RawValue, origin: &str, index: usize) -> Result<Value, CatalogError> {
    serde_json::from_str(raw.get()).map_err(|e| CatalogError {
        origin: origin.to_string(),
        id: None,
        index: Some(index),
        message: format!("not valid JSON: {e}"),
    })
}

impl Catalog {
    /// A catalog of the given detections (ids must be unique).
    pub fn new(detections: Vec<Detection>) -> Result<Catalog, CatalogError> {
        let mut seen = BTreeSet::new();
        for d in &detections {
            if !seen.insert(d.id.as_str()) {
                return Err(CatalogError {
                    origin: d.origin.clone(),
                    id: Some(d.id.clone()),
                    index: None,
                    message: "duplicate id".into(),
                });
            }
        }
        let index = Index::build(&detections);
        check_superseding(&detections, &index.superseded_by)?;
        Ok(Catalog {
            detections: Arc::new(detections),
            index: Arc::new(index),
            family_descriptions: Arc::default(),
        })
    }

    /// The built-in catalog. It is compiled (every detection's examples checked) once per
    /// process and option set; later calls share it.
    pub fn builtin(opts: BuiltinOptions) -> Catalog {
        static BUILT: [OnceLock<Catalog>; 2] = [OnceLock::new(), OnceLock::new()];
        BUILT[usize::from(opts.exclude_federated_signin)]
            .get_or_init(|| Catalog::compile_builtin(opts))
            .clone()
    }

    fn compile_builtin(opts: BuiltinOptions) -> Catalog {
        let mut out = Vec::new();
        let mut descriptions = BTreeMap::new();
        for (name, text) in BUILTIN_FILES {
            // Without the examples: tests read them, through `Detection::examples`.
            let file: BuiltinFile = serde_json::from_str(text).expect("built-in catalog parses");
            assert_eq!(file.family, *name, "built-in file names its family");
            descriptions.insert(name.to_string(), file.description);
            out.extend(file.detections.into_iter().map(|d| (*name, d.0)));
        }
        for (_, d) in &mut out {
            if d["id"] != CIS_4_2_ID {
                continue;
            }
            let note = if opts.exclude_federated_signin {
                d["pattern"]["userIdentity"] = serde_json::json!({"type": ["IAMUser", "Root"]});
                " Only IAM users and root count: IAM Identity Center and SAML/OIDC federated \
                 sign-ins are left out (EXCLUDE_FEDERATED_SIGNIN) because they always report \
                 MFAUsed=No, MFA having happened at the identity provider."
            } else {
                " IAM Identity Center and federated sign-ins are included \
                 (EXCLUDE_FEDERATED_SIGNIN=false); they always report MFAUsed=No, MFA having \
                 happened at the identity provider."
            };
            let text = format!("{}{note}", d["description"].as_str().unwrap_or_default());
            d["description"] = text.into();
        }
        let mut detections = Vec::with_capacity(out.len());
        for (i, (family, v)) in out.into_iter().enumerate() {
            let (_, d) = Detection::compile_owned(v, BUILT_IN, family, i)
                .expect("built-in detections compile");
            detections.extend(d.map(|mut d| {
                d.examples = ExampleSet::built_in(&d.id);
                d
            }));
        }
        let mut catalog = Catalog::new(detections).expect("built-in ids are unique");
        catalog.family_descriptions = Arc::new(descriptions);
        catalog
    }

    /// A catalog made only of the detections in `text` (a user file).
    pub fn from_json(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        Catalog::new(Vec::new())?.with_overrides(text, origin)
    }

    /// This catalog with the detections in `text` added, replacing those with the same id;
    /// `{"id": ..., "enabled": false}` removes one.
    pub fn with_overrides(self, text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let (head, list) = parse_list(text, origin)?;
        let family = head.family.as_deref().unwrap_or(CUSTOM_FAMILY);
        let mut descriptions = Arc::unwrap_or_clone(self.family_descriptions);
        if let Some(d) = head.description {
            descriptions.insert(family.to_string(), d);
        }
        let mut detections = Arc::unwrap_or_clone(self.detections);
        let mut seen = BTreeSet::new();
        for (i, v) in list.into_iter().enumerate() {
            let (id, d) = Detection::compile_owned(entry(v, origin, i)?, origin, family, i)?;
            if !seen.insert(id.clone()) {
                return Err(CatalogError {
                    origin: origin.to_string(),
                    id: Some(id),
                    index: Some(i),
                    message: "appears twice in this file".into(),
                });
            }
            let at = detections.iter().position(|x| x.id == id);
            match (d, at) {
                (Some(d), Some(at)) => detections[at] = d,
                (Some(d), None) => detections.push(d),
                (None, Some(at)) => {
                    detections.remove(at);
                }
                (None, None) => {
                    return Err(CatalogError {
                        origin: origin.to_string(),
                        id: Some(id),
                        index: Some(i),
                        message: "\"enabled\": false names no known detection".into(),
                    })
                }
            }
        }
        let mut catalog = Catalog::new(detections)?;
        catalog.family_descriptions = Arc::new(descriptions);
        Ok(catalog)
    }

    /// This catalog with its built-in detections marked `deployer_exempt` leaving out calls
    /// made by sessions of the given deployment roles: `roles` are IAM role ARNs, `*` matching
    /// any run of characters (`arn:aws:iam::*:role/terraform-deployer`). The test is on the
    /// session's issuer (`userIdentity.sessionContext.sessionIssuer.arn`), which AWS writes,
    /// never on the user agent, which the caller writes. A marked detection a user's file
    /// replaced or a disabled family removed is left as it is. `origin` names where the list
    /// came from (`DEPLOYER_ROLE_ARNS`).
    pub fn with_deployer_roles<S: AsRef<str>>(
        self,
        roles: &[S],
        origin: &str,
    ) -> Result<Catalog, CatalogError> {
        if roles.is_empty() {
            return Ok(self);
        }
        let fail = |id: Option<&str>, m: String| CatalogError {
            origin: origin.to_string(),
            id: id.map(str::to_string),
            index: None,
            message: m,
        };
        if let Some(r) = roles.iter().find(|r| !valid_role_arn(r.as_ref())) {
            return Err(fail(
                None,
                format!(
                    "{:?} is not an IAM role ARN such as arn:aws:iam::123456789012:role/deployer ('*' matches any characters)",
                    r.as_ref()
                ),
            ));
        }
        let list: Vec<Value> = roles.iter().map(|r| r.as_ref().into()).collect();
        let note =
            format!(
            " Calls by sessions of the deployment roles in DEPLOYER_ROLE_ARNS ({}) are left out.",
            roles.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", ")
        );
        let mut detections = Arc::unwrap_or_clone(self.detections);
        for (family, text) in BUILTIN_FILES {
            let (_, specs) = parse_list(text, BUILT_IN).expect("built-in catalog parses");
            for (i, v) in specs.into_iter().enumerate() {
                let mut v = entry(v, BUILT_IN, i).expect("built-in entries parse");
                let Some(at) = detections.iter().position(|d| {
                    d.deployer_exempt && d.origin == BUILT_IN && v["id"] == d.id.as_str()
                }) else {
                    continue;
                };
                let issuer = &mut v["pattern"]["userIdentity"]["sessionContext"]["sessionIssuer"];
                if issuer.get("arn").is_some() {
                    return Err(fail(
                        Some(&detections[at].id),
                        "already tests the session issuer's ARN".into(),
                    ));
                }
                issuer["arn"] =
                    serde_json::json!([{"anything-but": {"wildcard": list}}, {"exists": false}]);
                // The examples were checked when the catalog was built; one of them may be
                // made by a role now listed.
                v["examples"] = Value::Null;
                let (_, d) = Detection::compile(&v, BUILT_IN, family, i)?;
                let mut d = d.expect("a built-in detection is enabled");
                d.family = detections[at].family.clone();
                d.description.push_str(&note);
                detections[at] = d;
            }
        }
        // The exemption is only as good as the roles behind it: a new role whose name fits a
        // listed pattern (`ci-deploy-*`), or a listed role whose trust policy now lets someone
        // else assume it, would carry the exemption to whoever made the change.
        let listed = roles
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ");
        let guard = role_guard(
            DEPLOYER_GUARD_ID,
            "Deployment role created or its trust policy changed",
            &format!(
                "A role was created whose ARN fits DEPLOYER_ROLE_ARNS, or the trust policy of such \
                 a role was changed. Sessions of these roles are left out of the \
                 defence-evasion detections marked deployer_exempt, so whoever can assume one \
                 can delete log groups, alarms or Config rules unseen. Listed roles: {listed}."
            ),
            roles,
        );
        let mut catalog = Catalog::new(detections)?.with_guard(&guard)?;
        catalog.family_descriptions = self.family_descriptions;
        Ok(catalog)
    }

    /// This catalog with the built-in `ec2-security-group-exempt-tag-changed` watching `key`
    /// (security-group's `EXEMPT_TAG`) instead of [`DEFAULT_EXEMPT_TAG`]: a deployment that
    /// exempts groups by another tag is warned when that tag is set or removed. The default
    /// key, an empty one (no tag exempts) or a detection a user's file replaced or a disabled
    /// family removed leave the catalog as it is. A key of more than 128 characters, or one
    /// with control characters (no EC2 tag key), is an error naming `origin`.
    pub fn with_exempt_tag(self, key: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let key = key.trim();
        if key.chars().count() > 128 || key.chars().any(char::is_control) {
            return Err(CatalogError {
                origin: origin.to_string(),
                id: None,
                index: None,
                message: format!("{key:?} is not a tag key (at most 128 printable characters)"),
            });
        }
        let at = self
            .detections
            .iter()
            .position(|d| d.id == EXEMPT_TAG_DETECTION && d.origin == BUILT_IN);
        let (Some(at), false) = (at, key.is_empty() || key == DEFAULT_EXEMPT_TAG) else {
            return Ok(self);
        };
        let (family, text) = BUILTIN_FILES
            .iter()
            .find(|(f, _)| *f == self.detections[at].family)
            .expect("a built-in detection's family is a built-in file");
        let (_, specs) = parse_list(text, BUILT_IN).expect("built-in catalog parses");
        let mut v = specs
            .into_iter()
            .enumerate()
            .map(|(i, raw)| entry(raw, BUILT_IN, i).expect("built-in entries parse"))
            .find(|v| v["id"] == EXEMPT_TAG_DETECTION)
            .expect("the exemption tag detection is in its family's file");
        // Rebuilt from its text, it would lose what `with_deployer_roles` adds to a detection
        // marked deployer_exempt: this one is not (a test holds it).
        // The examples use the default key; they were checked when the catalog was built.
        v["examples"] = Value::Null;
        // The key stands in the title, the description and the pattern (as a value, and as a
        // field name in TagResources' `tags`): each written as JSON text.
        let escaped = |k: &str| {
            let q = serde_json::to_string(k).expect("a string serialises");
            q[1..q.len() - 1].to_string()
        };
        let text = v
            .to_string()
            .replace(&escaped(DEFAULT_EXEMPT_TAG), &escaped(key));
        let v: Value = serde_json::from_str(&text).expect("a key written as JSON text stays JSON");
        let (_, d) = Detection::compile(&v, BUILT_IN, family, at)?;
        let mut detections = Arc::unwrap_or_clone(self.detections);
        detections[at] = d.expect("a built-in detection is enabled");
        let mut catalog = Catalog::new(detections)?;
        catalog.family_descriptions = self.family_descriptions;
        Ok(catalog)
    }

    /// This catalog with one more detection (high): a role created whose ARN fits a role
    /// pattern of `creators` (`APPROVED_CREATOR_ARNS`), or the trust policy of such a role
    /// changed. unapproved-user keeps the IAM users these roles create, so whoever can create
    /// or assume one can create users that are kept; the age check
    /// (`APPROVED_CREATOR_MIN_AGE_MINUTES`) only bounds how soon. User patterns in the list
    /// are not guarded here: a new user is unapproved-user's own event. A role pattern that is
    /// not a role ARN glob (`valid_role_arn`) is an error naming `origin`.
    pub fn with_approved_creators<S: AsRef<str>>(
        self,
        creators: &[S],
        origin: &str,
    ) -> Result<Catalog, CatalogError> {
        let roles: Vec<&str> = creators
            .iter()
            .map(AsRef::as_ref)
            .filter(|c| {
                c.splitn(6, ':')
                    .nth(5)
                    .is_some_and(|r| r.starts_with("role/"))
            })
            .collect();
        if roles.is_empty() {
            return Ok(self);
        }
        if let Some(r) = roles.iter().find(|r| !valid_role_arn(r)) {
            return Err(CatalogError {
                origin: origin.to_string(),
                id: None,
                index: None,
                message: format!(
                    "{r:?} is not an IAM role ARN such as arn:aws:iam::123456789012:role/terraform-deployer ('*' matches any characters)"
                ),
            });
        }
        let guard = role_guard(
            CREATOR_GUARD_ID,
            "Approved creator role created or its trust policy changed",
            &format!(
                "A role was created whose ARN fits a role pattern of APPROVED_CREATOR_ARNS, or \
                 the trust policy of such a role was changed. IAM users these roles create are \
                 approved by unapproved-user (once the role is APPROVED_CREATOR_MIN_AGE_MINUTES \
                 old), so whoever can create or assume one can create IAM users that are kept. \
                 Approved creator roles: {}.",
                roles.join(", ")
            ),
            &roles,
        );
        self.with_guard(&guard)
    }

    /// This catalog with a generated detection added, unless one of that id is there already
    /// (a user's file that replaces it by id wins).
    fn with_guard(self, guard: &Value) -> Result<Catalog, CatalogError> {
        if self.get(guard["id"].as_str().unwrap_or_default()).is_some() {
            return Ok(self);
        }
        let mut detections = Arc::unwrap_or_clone(self.detections);
        let (_, d) = Detection::compile(guard, BUILT_IN, "identity", detections.len())?;
        detections.extend(d);
        let mut catalog = Catalog::new(detections)?;
        catalog.family_descriptions = self.family_descriptions;
        Ok(catalog)
    }

    /// This catalog with the detections of a local file added (see [`Catalog::with_overrides`]).
    pub fn with_file(self, path: &std::path::Path) -> Result<Catalog, CatalogError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CatalogError {
            origin: origin.clone(),
            id: None,
            index: None,
            message: format!("cannot read: {e}"),
        })?;
        self.with_overrides(&text, &origin)
    }

    /// The families in this catalog with how many detections each holds, by name.
    pub fn families(&self) -> Vec<(String, usize)> {
        let mut m = std::collections::BTreeMap::<&str, usize>::new();
        for d in self.detections.iter() {
            *m.entry(d.family.as_str()).or_default() += 1;
        }
        m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// This catalog without the detections of the named families. A name that is no family
    /// of this catalog is an error (a typo would otherwise leave a family on unnoticed).
    /// `origin` names where the list came from (`DISABLED_DETECTION_FAMILIES`).
    pub fn without_families<S: AsRef<str>>(
        self,
        names: &[S],
        origin: &str,
    ) -> Result<Catalog, CatalogError> {
        let known = self.families();
        for n in names {
            let n = n.as_ref();
            if !known.iter().any(|(k, _)| k == n) {
                let list: Vec<&str> = known.iter().map(|(k, _)| k.as_str()).collect();
                return Err(CatalogError {
                    origin: origin.to_string(),
                    id: None,
                    index: None,
                    message: format!(
                        "unknown detection family {n:?} (known: {})",
                        list.join(", ")
                    ),
                });
            }
        }
        if names.is_empty() {
            return Ok(self);
        }
        let detections = self
            .detections
            .iter()
            .filter(|d| !names.iter().any(|n| n.as_ref() == d.family))
            .cloned()
            .collect();
        let mut catalog = Catalog::new(detections)?;
        catalog.family_descriptions = self.family_descriptions;
        Ok(catalog)
    }

    /// The description a family's file gives (every built-in family has one; a user's file
    /// may give one next to its `"family"`, or for the `custom` family when it names none).
    pub fn family_description(&self, family: &str) -> Option<&str> {
        self.family_descriptions.get(family).map(String::as_str)
    }

    pub fn detections(&self) -> &[Detection] {
        &self.detections
    }

    pub fn get(&self, id: &str) -> Option<&Detection> {
        self.detections.iter().find(|d| d.id == id)
    }

    pub fn len(&self) -> usize {
        self.detections.len()
    }

    pub fn is_empty(&self) -> bool {
        self.detections.is_empty()
    }

    /// The detections whose pattern matches one record (thresholds are not applied), less
    /// those superseded by another of them ([`Detection::superseded_by`]).
    pub fn matching(&self, record: &Value) -> Vec<&Detection> {
        let str_of = |k: &str| match record.get(k) {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s.as_bytes())),
            Some(_) => None,
        };
        let mut cands = Vec::new();
        self.index.candidates(
            str_of("eventName"),
            str_of("eventSource"),
            self.len(),
            &mut cands,
        );
        cands.sort_unstable();
        cands.retain(|&i| self.detections[i].pattern.matches(record));
        self.index.drop_superseded(&mut cands);
        cands.into_iter().map(|i| &self.detections[i]).collect()
    }

    /// How the index splits the catalog: (by eventName, by eventSource only, always evaluated).
    pub fn index_stats(&self) -> (usize, usize, usize) {
        let distinct =
            |m: &FxMap<Box<[u8]>, Vec<usize>>| m.values().flatten().collect::<BTreeSet<_>>().len();
        (
            distinct(&self.index.by_name),
            distinct(&self.index.by_source),
            self.index.always.len(),
        )
    }
}
