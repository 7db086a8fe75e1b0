//! MITRE ATT&CK (enterprise matrix): the tactics in matrix order and the techniques that
//! matter in an AWS account, with their names and tactics, so detections can be grouped by
//! tactic (`trailwarden detections --coverage`) and their technique ids checked.
//!
//! The table holds the cloud-relevant techniques (IaaS, identity provider, SaaS) and their
//! cloud sub-techniques. A sub-technique has no tactics of its own: it inherits its parent's.

use serde::Serialize;
use std::fmt;

/// Declares [`Tactic`] from one row per tactic, in matrix order: the variant, its ATT&CK id,
/// its name as ATT&CK writes it and its slug (as Sigma tags and JSON spell it).
macro_rules! tactics {
    ($($variant:ident $id:literal $name:literal $slug:literal,)+) => {
        /// An ATT&CK enterprise tactic. The order of the variants is the matrix's, left to
        /// right.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum Tactic {
            $($variant,)+
        }

        impl Tactic {
            /// Every tactic, in matrix order.
            pub const ALL: [Tactic; 14] = [$(Tactic::$variant,)+];

            /// The tactic's ATT&CK id (`TA0005`).
            pub fn id(self) -> &'static str {
                match self {
                    $(Tactic::$variant => $id,)+
                }
            }

            /// The tactic's name as ATT&CK writes it (`Defense Evasion`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Tactic::$variant => $name,)+
                }
            }

            /// The tactic as a lower-case slug (`defense-evasion`), as Sigma tags and JSON
            /// use it.
            pub fn slug(self) -> &'static str {
                match self {
                    $(Tactic::$variant => $slug,)+
                }
            }
        }
    };
}

tactics! {
    Reconnaissance      "TA0043" "Reconnaissance"       "reconnaissance",
    ResourceDevelopment "TA0042" "Resource Development" "resource-development",
    InitialAccess       "TA0001" "Initial Access"       "initial-access",
    Execution           "TA0002" "Execution"            "execution",
    Persistence         "TA0003" "Persistence"          "persistence",
    PrivilegeEscalation "TA0004" "Privilege Escalation" "privilege-escalation",
    DefenseEvasion      "TA0005" "Defense Evasion"      "defense-evasion",
    CredentialAccess    "TA0006" "Credential Access"    "credential-access",
    Discovery           "TA0007" "Discovery"            "discovery",
    LateralMovement     "TA0008" "Lateral Movement"     "lateral-movement",
    Collection          "TA0009" "Collection"           "collection",
    CommandAndControl   "TA0011" "Command and Control"  "command-and-control",
    Exfiltration        "TA0010" "Exfiltration"         "exfiltration",
    Impact              "TA0040" "Impact"               "impact",
}

impl Tactic {
    /// The tactic of a slug ([`Tactic::slug`]).
    pub fn from_slug(slug: &str) -> Option<Tactic> {
        Tactic::ALL.into_iter().find(|t| t.slug() == slug)
    }
}

impl fmt::Display for Tactic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A technique or sub-technique as [`technique`] finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Technique {
    /// `T1098` or `T1098.001`.
    pub id: &'static str,
    /// The technique's own name (`Additional Cloud Credentials` for `T1098.001`).
    pub name: &'static str,
    /// For a sub-technique, its parent's name (`Account Manipulation`); `None` for a technique.
    pub parent: Option<&'static str>,
    /// Its tactics (a sub-technique's are its parent's), in matrix order.
    pub tactics: &'static [Tactic],
}

impl Technique {
    /// `Account Manipulation: Additional Cloud Credentials`, as ATT&CK titles sub-techniques.
    pub fn full_name(&self) -> String {
        match self.parent {
            Some(p) => format!("{p}: {}", self.name),
            None => self.name.to_string(),
        }
    }
}

/// The table, `shared/data/mitre-attack.txt`: one technique or sub-technique a line.
const TABLE: &str = include_str!("../../data/mitre-attack.txt");

/// The table as parsed: techniques (id, name, tactics) and sub-techniques (id, name), each
/// in table order.
struct Table {
    techniques: Vec<(&'static str, &'static str, Vec<Tactic>)>,
    sub_techniques: Vec<(&'static str, &'static str)>,
}

/// Parses the table's text: `id | name | tactic slugs` for a technique, `id | name` for a
/// sub-technique; `#` starts a comment line. The error names the line.
fn parse(text: &'static str) -> Result<Table, String> {
    let mut table = Table {
        techniques: Vec::new(),
        sub_techniques: Vec::new(),
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&'static str> = line.split('|').map(str::trim).collect();
        let bad = |why: &str| format!("mitre-attack.txt line {}: {why}: {line}", n + 1);
        match fields[..] {
            [id, name, tactics] if is_technique_id(id) && !name.is_empty() => {
                let tactics = tactics
                    .split_whitespace()
                    .map(|slug| Tactic::from_slug(slug).ok_or_else(|| bad("unknown tactic")))
                    .collect::<Result<Vec<_>, _>>()?;
                if tactics.is_empty() {
                    return Err(bad("a technique without tactics"));
                }
                table.techniques.push((id, name, tactics));
            }
            [id, name] if is_sub_technique_id(id) && !name.is_empty() => {
                table.sub_techniques.push((id, name));
            }
            _ => {
                return Err(bad(
                    "neither `T1234 | name | tactics` nor `T1234.001 | name`",
                ))
            }
        }
    }
    Ok(table)
}

/// `T` and four digits.
fn is_technique_id(id: &str) -> bool {
    id.len() == 5 && id.starts_with('T') && id[1..].bytes().all(|b| b.is_ascii_digit())
}

/// A technique id, a dot and three digits.
fn is_sub_technique_id(id: &str) -> bool {
    id.split_once('.').is_some_and(|(t, sub)| {
        is_technique_id(t) && sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit())
    })
}

/// The table, parsed on first use.
fn table() -> &'static Table {
    static PARSED: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| parse(TABLE).unwrap_or_else(|e| panic!("{e}")))
}

/// The technique or sub-technique with this id (`T1098`, `T1098.001`), when the table has it.
pub fn technique(id: &str) -> Option<Technique> {
    let table = table();
    match id.split_once('.') {
        None => table
            .techniques
            .iter()
            .find(|(t, _, _)| *t == id)
            .map(|(id, name, tactics)| Technique {
                id,
                name,
                parent: None,
                tactics,
            }),
        Some((parent_id, _)) => {
            let &(id, name) = table.sub_techniques.iter().find(|(t, _)| *t == id)?;
            let parent = technique(parent_id)?;
            Some(Technique {
                id,
                name,
                parent: Some(parent.name),
                tactics: parent.tactics,
            })
        }
    }
}

/// The tactics of a technique id (a sub-technique's are its parent's); empty when unknown.
pub fn tactics_of(id: &str) -> &'static [Tactic] {
    technique(id).map(|t| t.tactics).unwrap_or(&[])
}

/// Every technique and sub-technique the table knows, techniques first, each in table order.
pub fn all() -> Vec<Technique> {
    let table = table();
    table
        .techniques
        .iter()
        .filter_map(|(id, _, _)| technique(id))
        .chain(
            table
                .sub_techniques
                .iter()
                .filter_map(|(id, _)| technique(id)),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Tactic::*;
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn sub_techniques_inherit_their_parents_tactics() {
        let t = technique("T1098.001").expect("known");
        assert_eq!(t.name, "Additional Cloud Credentials");
        assert_eq!(t.parent, Some("Account Manipulation"));
        assert_eq!(t.tactics, &[Persistence, PrivilegeEscalation]);
        assert_eq!(
            t.full_name(),
            "Account Manipulation: Additional Cloud Credentials"
        );
        assert_eq!(
            tactics_of("T1078.004"),
            &[
                InitialAccess,
                Persistence,
                PrivilegeEscalation,
                DefenseEvasion
            ]
        );
        assert_eq!(tactics_of("T1562.008"), &[DefenseEvasion]);
        assert_eq!(tactics_of("T1537"), &[Exfiltration]);
    }

    #[test]
    fn unknown_ids_have_no_technique() {
        for id in ["T9999", "T1098.999", "T1098.", "t1098", "", "TA0005"] {
            assert!(technique(id).is_none(), "{id}");
            assert!(tactics_of(id).is_empty(), "{id}");
        }
    }

    #[test]
    fn the_table_is_well_formed() {
        let table = parse(TABLE).expect("the table parses");
        let mut seen = BTreeSet::new();
        for (id, name, tactics) in &table.techniques {
            assert!(seen.insert(*id), "{id} twice");
            assert!(is_technique_id(id) && !name.is_empty(), "{id}");
            assert!(
                tactics.windows(2).all(|w| w[0] < w[1]),
                "{id}: tactics in matrix order, once each"
            );
        }
        for (id, name) in &table.sub_techniques {
            assert!(seen.insert(*id), "{id} twice");
            assert!(is_sub_technique_id(id) && !name.is_empty(), "{id}");
            assert!(
                technique(&id[..5]).is_some(),
                "{id}: its parent is in the table"
            );
        }
        // Every id in the table parses back to its technique.
        for id in &seen {
            assert_eq!(technique(id).map(|t| t.id), Some(*id), "{id}");
        }
        assert_eq!(table.techniques.len(), 100);
        assert_eq!(table.sub_techniques.len(), 73);
        assert_eq!(
            all().len(),
            table.techniques.len() + table.sub_techniques.len()
        );
        // Matrix order and distinct ids.
        let ids: BTreeSet<&str> = Tactic::ALL.iter().map(|t| t.id()).collect();
        assert_eq!(ids.len(), 14);
        assert!(Tactic::ALL.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Tactic::ALL[0].name(), "Reconnaissance");
        assert_eq!(Tactic::ALL[13].slug(), "impact");
        assert!(Tactic::ALL
            .iter()
            .all(|t| Tactic::from_slug(t.slug()) == Some(*t)));
    }

    #[test]
    fn a_malformed_line_is_refused_naming_it() {
        for text in [
            "T1098 | Account Manipulation | persistance\n",
            "T1098 | Account Manipulation |\n",
            "T1098.01 | Additional Cloud Credentials\n",
            "T1098 Account Manipulation persistence\n",
        ] {
            let e = parse(text).err().expect(text);
            assert!(e.contains("line 1"), "{e}");
        }
    }
}
