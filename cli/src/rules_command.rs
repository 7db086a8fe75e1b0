//! `trailwarden rules`: the EventBridge rules that route the catalog's events to the
//! real-time `catalog` function ([`trailwarden_cli::rules`]).

use crate::Format;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use trailwarden::detect::{BuiltinOptions, Catalog};
use trailwarden_cli::rules::{self, Rule};

#[derive(Args)]
pub struct RulesArgs {
    /// A JSON file of your own detections (added to, or overriding by id, the built-ins).
    #[arg(long)]
    detections: Option<PathBuf>,
    /// Only the rules for the detections of --detections (to deploy next to the stack, whose
    /// own rules cover the built-ins).
    #[arg(long, requires = "detections")]
    only_custom: bool,
    /// Turn off a built-in detection family (repeatable).
    #[arg(long = "disable-family", value_name = "FAMILY")]
    disabled_families: Vec<String>,
    /// Print a stand-alone CloudFormation template (rules plus invoke permissions, parameter
    /// CatalogFunctionArn: the stack's output of that name) instead of the SAM snippet.
    #[arg(long)]
    stack: bool,
    /// Rewrite the generated block of this SAM template (between the
    /// "# BEGIN generated catalog rules" and "# END generated catalog rules" lines) instead of
    /// printing (what scripts/gen-rules.sh does with template.yaml).
    #[arg(long, value_name = "TEMPLATE")]
    write_template: Option<PathBuf>,
    /// Rewrite the generated block of the forwarder template (AWS::Events::Rule resources
    /// sending the same events from other regions to the catalog's event bus).
    #[arg(long, value_name = "TEMPLATE")]
    write_forwarder: Option<PathBuf>,
}

fn write(
    path: &PathBuf,
    generated: &[Rule],
    render: fn(&[Rule], usize) -> String,
    detections: usize,
) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let new = rules::replace_block_with(&text, generated, render)
        .with_context(|| format!("in {}", path.display()))?;
    if new != text {
        std::fs::write(path, &new).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "{}: {} rules for {detections} detections{}",
        path.display(),
        generated.len(),
        if new == text { " (unchanged)" } else { "" }
    );
    Ok(())
}

fn catalog(args: &RulesArgs) -> Result<Catalog> {
    let base = if args.only_custom {
        Catalog::new(Vec::new())?
    } else {
        Catalog::builtin(BuiltinOptions::default())
            .without_families(&args.disabled_families, "--disable-family")?
    };
    match &args.detections {
        Some(p) => base
            .with_file(p)
            .with_context(|| format!("loading detections from {}", p.display())),
        None => Ok(base),
    }
}

pub fn rules(args: RulesArgs, format: Format) -> Result<ExitCode> {
    let catalog = catalog(&args)?;
    let generated: Vec<Rule> = rules::generate(&catalog)?;
    if args.write_template.is_some() || args.write_forwarder.is_some() {
        if let Some(path) = &args.write_template {
            write(path, &generated, rules::template_block, catalog.len())?;
        }
        if let Some(path) = &args.write_forwarder {
            write(path, &generated, rules::forwarder_block, catalog.len())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    match (format, args.stack) {
        (_, true) => outln!(
            "{}",
            serde_json::to_string_pretty(&rules::standalone_stack(&generated))?
        ),
        (Format::Json, false) => outln!("{}", serde_json::to_string_pretty(&generated)?),
        (Format::Text, false) => {
            outln!(
                "# {} EventBridge rules for {} detections (SAM EventBridgeRule events of the catalog function)",
                generated.len(),
                catalog.len()
            );
            out!("{}", rules::template_block(&generated, 0));
        }
    }
    Ok(ExitCode::SUCCESS)
}
