//! `detections --markdown`, `--coverage` and `--families`: the catalog as a README table, by
//! ATT&CK tactic, and by family.

use crate::Format;
use anyhow::Result;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use trailwarden::detect::mitre::{self, Tactic};
use trailwarden::detect::Catalog;

/// A table cell: pipes escaped, line breaks flattened.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The Markdown table the README holds (`scripts/detections-table.sh` writes it there).
pub fn markdown(catalog: &Catalog) {
    outln!("| id | title | family | severity | tactics | MITRE ATT&CK | CIS v1.4 | threshold |");
    outln!("|---|---|---|---|---|---|---|---|");
    for d in catalog.detections() {
        let threshold = d
            .threshold
            .as_ref()
            .map(|t| {
                let per = if t.group_by.is_empty() {
                    String::new()
                } else {
                    format!(" per {}", t.group_by.join(", "))
                };
                format!("{} in {} s{per}", t.count, t.window_seconds)
            })
            .unwrap_or_default();
        let tactics: Vec<&str> = d.tactics().iter().map(|t| t.name()).collect();
        outln!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
            d.id,
            cell(&d.title),
            d.family,
            d.severity,
            tactics.join(", "),
            d.references.mitre_attack.join(", "),
            d.references.cis.as_deref().unwrap_or(""),
            cell(&threshold)
        );
    }
}

/// Per tactic, in matrix order: the detections that cover it and the techniques they name.
pub fn coverage_json(catalog: &Catalog) -> Value {
    // tactic -> technique -> detection ids
    let mut by_tactic: BTreeMap<Tactic, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut detections_per_tactic: BTreeMap<Tactic, Vec<String>> = BTreeMap::new();
    let mut unknown: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut without = Vec::new();
    for d in catalog.detections() {
        if d.references.mitre_attack.is_empty() {
            without.push(d.id.clone());
        }
        for t in &d.references.mitre_attack {
            match mitre::technique(t) {
                None => unknown.entry(t.clone()).or_default().push(d.id.clone()),
                Some(tech) => {
                    for tactic in tech.tactics {
                        let ids = by_tactic
                            .entry(*tactic)
                            .or_default()
                            .entry(t.clone())
                            .or_default();
                        if !ids.contains(&d.id) {
                            ids.push(d.id.clone());
                        }
                    }
                }
            }
        }
        for tactic in d.tactics() {
            detections_per_tactic
                .entry(tactic)
                .or_default()
                .push(d.id.clone());
        }
    }
    let tactics: Vec<Value> = Tactic::ALL
        .iter()
        .map(|tactic| {
            let techniques: Vec<Value> = by_tactic
                .get(tactic)
                .map(|m| {
                    m.iter()
                        .map(|(id, ids)| {
                            let name = mitre::technique(id)
                                .map(|t| t.full_name())
                                .unwrap_or_default();
                            json!({"id": id, "name": name, "detections": ids.len(), "detection_ids": ids})
                        })
                        .collect()
                })
                .unwrap_or_default();
            let ids = detections_per_tactic.get(tactic).cloned().unwrap_or_default();
            json!({
                "id": tactic.id(),
                "name": tactic.name(),
                "detections": ids.len(),
                "detection_ids": ids,
                "techniques": techniques,
            })
        })
        .collect();
    let unknown: Vec<Value> = unknown
        .into_iter()
        .map(|(id, ids)| json!({"id": id, "detection_ids": ids}))
        .collect();
    json!({
        "detections": catalog.len(),
        "tactics": tactics,
        "unknown_techniques": unknown,
        "without_technique": without,
    })
}

pub fn coverage(catalog: &Catalog, format: Format) -> Result<()> {
    let v = coverage_json(catalog);
    if format == Format::Json {
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    outln!(
        "MITRE ATT&CK coverage of {} detections (enterprise matrix, by tactic)",
        catalog.len()
    );
    let empty = Vec::new();
    for t in v["tactics"].as_array().unwrap_or(&empty) {
        let n = t["detections"].as_u64().unwrap_or(0);
        let label = format!(
            "{} ({})",
            t["name"].as_str().unwrap_or_default(),
            t["id"].as_str().unwrap_or_default()
        );
        outln!();
        if n == 0 {
            outln!("{label}: no detection");
            continue;
        }
        outln!("{label}: {n} detection{}", if n == 1 { "" } else { "s" });
        for tech in t["techniques"].as_array().unwrap_or(&empty) {
            outln!(
                "  {:<10} {:>4}  {}",
                tech["id"].as_str().unwrap_or_default(),
                tech["detections"].as_u64().unwrap_or(0),
                tech["name"].as_str().unwrap_or_default()
            );
        }
    }
    let unknown = v["unknown_techniques"].as_array().unwrap_or(&empty);
    if !unknown.is_empty() {
        outln!();
        outln!("Techniques not in trailwarden's ATT&CK table (no tactic counted):");
        for u in unknown {
            let ids: Vec<&str> = u["detection_ids"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .filter_map(Value::as_str)
                .collect();
            outln!(
                "  {:<10} {}",
                u["id"].as_str().unwrap_or_default(),
                ids.join(", ")
            );
        }
    }
    let without = v["without_technique"].as_array().unwrap_or(&empty);
    if !without.is_empty() {
        let ids: Vec<&str> = without.iter().filter_map(Value::as_str).collect();
        outln!();
        outln!("Without an ATT&CK technique: {}", ids.join(", "));
    }
    Ok(())
}

/// The families with their detection counts and descriptions.
pub fn families(catalog: &Catalog, format: Format) -> Result<()> {
    let rows: Vec<Value> = catalog
        .families()
        .into_iter()
        .map(|(family, n)| {
            let description = catalog.family_description(&family);
            json!({"family": family, "detections": n, "description": description})
        })
        .collect();
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Text => {
            outln!("{:<12} {:>10}  DESCRIPTION", "FAMILY", "DETECTIONS");
            for r in &rows {
                outln!(
                    "{:<12} {:>10}  {}",
                    r["family"].as_str().unwrap_or_default(),
                    r["detections"].as_u64().unwrap_or(0),
                    r["description"].as_str().unwrap_or("-")
                );
            }
            outln!("{} families, {} detections", rows.len(), catalog.len());
        }
    }
    Ok(())
}
