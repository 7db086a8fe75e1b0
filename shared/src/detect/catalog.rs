//! A compiled, indexed set of detections: the built-in catalog, user files merged by id,
//! and matching one record.

use super::detection::CatalogError;
use super::index::{FxMap, Index};
use super::{BuiltinOptions, Detection, BUILTIN_JSON, CIS_4_2_ID};
use serde_json::Value;
use std::collections::BTreeSet;

/// A compiled, indexed set of detections.
#[derive(Debug, Clone)]
pub struct Catalog {
    detections: Vec<Detection>,
    pub(crate) index: Index,
}

fn parse_list(text: &str, origin: &str) -> Result<Vec<Value>, CatalogError> {
    let whole = |m: String| CatalogError {
        origin: origin.to_string(),
        id: None,
        index: None,
        message: m,
    };
    let v: Value = serde_json::from_str(text).map_err(|e| whole(format!("not valid JSON: {e}")))?;
    match v {
        Value::Array(a) => Ok(a),
        Value::Object(mut m) => {
            let extra: Vec<&String> = m.keys().filter(|k| *k != "detections").collect();
            if !extra.is_empty() {
                return Err(whole(format!(
                    "unknown top-level key {:?} (expected only \"detections\")",
                    extra[0]
                )));
            }
            match m.remove("detections") {
                Some(Value::Array(a)) => Ok(a),
                Some(_) => Err(whole("\"detections\" must be an array".into())),
                None => Err(whole("expected {\"detections\": [...]}".into())),
            }
        }
        _ => Err(whole(
            "expected {\"detections\": [...]} or an array of detections".into(),
        )),
    }
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
        Ok(Catalog { detections, index })
    }

    /// The built-in catalog.
    pub fn builtin(opts: BuiltinOptions) -> Catalog {
        let mut list = parse_list(BUILTIN_JSON, "built-in").expect("built-in catalog parses");
        for d in &mut list {
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
        let mut out = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let (_, d) = Detection::compile(v, "built-in", i).expect("built-in detections compile");
            out.extend(d);
        }
        Catalog::new(out).expect("built-in ids are unique")
    }

    /// A catalog made only of the detections in `text` (a user file).
    pub fn from_json(text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        Catalog::new(Vec::new())?.with_overrides(text, origin)
    }

    /// This catalog with the detections in `text` added, replacing those with the same id;
    /// `{"id": ..., "enabled": false}` removes one.
    pub fn with_overrides(self, text: &str, origin: &str) -> Result<Catalog, CatalogError> {
        let list = parse_list(text, origin)?;
        let mut detections = self.detections;
        let mut seen = BTreeSet::new();
        for (i, v) in list.iter().enumerate() {
            let (id, d) = Detection::compile(v, origin, i)?;
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
        Catalog::new(detections)
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

    /// The detections whose pattern matches one record (thresholds are not applied).
    pub fn matching(&self, record: &Value) -> Vec<&Detection> {
        let str_of = |k: &str| match record.get(k) {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s.as_str())),
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
        cands
            .into_iter()
            .map(|i| &self.detections[i])
            .filter(|d| d.pattern.matches(record))
            .collect()
    }

    /// How the index splits the catalog: (by eventName, by eventSource only, always evaluated).
    pub fn index_stats(&self) -> (usize, usize, usize) {
        let distinct =
            |m: &FxMap<String, Vec<usize>>| m.values().flatten().collect::<BTreeSet<_>>().len();
        (
            distinct(&self.index.by_name),
            distinct(&self.index.by_source),
            self.index.always.len(),
        )
    }
}
