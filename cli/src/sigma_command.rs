//! `import-sigma`: Sigma rules for AWS CloudTrail to a trailwarden detection file.

use crate::{collect_files, Format};
use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use trailwarden::detect::sigma::Converter;
use trailwarden::detect::{BuiltinOptions, Catalog};

#[derive(Args)]
pub struct ImportSigmaArgs {
    /// Sigma rule files (.yml, .yaml) or directories, searched recursively.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Write the detection file here instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// One rule that was not converted.
struct Refused {
    file: String,
    title: String,
    reason: String,
}

pub fn import_sigma(args: ImportSigmaArgs, format: Format) -> Result<ExitCode> {
    let files = collect_files(&args.paths, &[".yml", ".yaml"])?;
    if files.is_empty() {
        bail!("no .yml or .yaml files under the given paths");
    }
    // Ids of the built-ins are reserved: a converted rule with one would replace it.
    let builtin = Catalog::builtin(BuiltinOptions::default());
    let mut converter = Converter::new(builtin.detections().iter().map(|d| d.id.clone()));
    let mut refused = Vec::new();
    let mut rules = 0usize;
    for file in &files {
        let name = file.display().to_string();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                refused.push(Refused {
                    file: name,
                    title: "-".into(),
                    reason: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        let mut documents = 0;
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let rule = match Value::deserialize(doc) {
                Ok(Value::Null) => continue,
                Ok(v) => v,
                Err(e) => {
                    rules += 1;
                    refused.push(Refused {
                        file: name.clone(),
                        title: "-".into(),
                        reason: format!("not a readable YAML document: {e}"),
                    });
                    break;
                }
            };
            documents += 1;
            rules += 1;
            if let Err(r) = converter.convert(&rule) {
                refused.push(Refused {
                    file: name.clone(),
                    title: r.title,
                    reason: r.reason,
                });
            }
        }
        if documents == 0 && !refused.iter().any(|r| r.file == name) {
            refused.push(Refused {
                file: name,
                title: "-".into(),
                reason: "no YAML document in the file".into(),
            });
        }
    }
    for r in &refused {
        eprintln!("{}: refused {:?}: {}", r.file, r.title, r.reason);
    }
    let converted = converter.detections().len();
    eprintln!(
        "converted {converted} of {rules} rule(s) from {} file(s); {} refused",
        files.len(),
        refused.len()
    );
    let ids: Vec<Value> = converter
        .detections()
        .iter()
        .map(|d| d["id"].clone())
        .collect();
    if converted == 0 {
        eprintln!("error: no rule could be converted");
        return Ok(ExitCode::from(2));
    }
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(&converter.into_file())?
    );
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            if format == Format::Json {
                let report = json!({
                    "output": path,
                    "converted": ids,
                    "refused": refused
                        .iter()
                        .map(|r| json!({"file": r.file, "title": r.title, "reason": r.reason}))
                        .collect::<Vec<_>>(),
                });
                outln!("{}", serde_json::to_string_pretty(&report)?);
            }
        }
        None => out!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
