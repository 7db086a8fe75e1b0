//! MITRE ATT&CK (enterprise matrix): the tactics in matrix order and the techniques that
//! matter in an AWS account, with their names and tactics, so detections can be grouped by
//! tactic (`trailwarden detections --coverage`) and their technique ids checked.
//!
//! The table holds the cloud-relevant techniques (IaaS, identity provider, SaaS) and their
//! cloud sub-techniques. A sub-technique has no tactics of its own: it inherits its parent's.

use serde::Serialize;
use std::fmt;

/// An ATT&CK enterprise tactic. The order of the variants is the matrix's, left to right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tactic {
    Reconnaissance,
    ResourceDevelopment,
    InitialAccess,
    Execution,
    Persistence,
    PrivilegeEscalation,
    DefenseEvasion,
    CredentialAccess,
    Discovery,
    LateralMovement,
    Collection,
    CommandAndControl,
    Exfiltration,
    Impact,
}

use Tactic::*;

impl Tactic {
    /// Every tactic, in matrix order.
    pub const ALL: [Tactic; 14] = [
        Reconnaissance,
        ResourceDevelopment,
        InitialAccess,
        Execution,
        Persistence,
        PrivilegeEscalation,
        DefenseEvasion,
        CredentialAccess,
        Discovery,
        LateralMovement,
        Collection,
        CommandAndControl,
        Exfiltration,
        Impact,
    ];

    /// The tactic's ATT&CK id (`TA0005`).
    pub fn id(self) -> &'static str {
        match self {
            Reconnaissance => "TA0043",
            ResourceDevelopment => "TA0042",
            InitialAccess => "TA0001",
            Execution => "TA0002",
            Persistence => "TA0003",
            PrivilegeEscalation => "TA0004",
            DefenseEvasion => "TA0005",
            CredentialAccess => "TA0006",
            Discovery => "TA0007",
            LateralMovement => "TA0008",
            Collection => "TA0009",
            CommandAndControl => "TA0011",
            Exfiltration => "TA0010",
            Impact => "TA0040",
        }
    }

    /// The tactic's name as ATT&CK writes it (`Defense Evasion`).
    pub fn name(self) -> &'static str {
        match self {
            Reconnaissance => "Reconnaissance",
            ResourceDevelopment => "Resource Development",
            InitialAccess => "Initial Access",
            Execution => "Execution",
            Persistence => "Persistence",
            PrivilegeEscalation => "Privilege Escalation",
            DefenseEvasion => "Defense Evasion",
            CredentialAccess => "Credential Access",
            Discovery => "Discovery",
            LateralMovement => "Lateral Movement",
            Collection => "Collection",
            CommandAndControl => "Command and Control",
            Exfiltration => "Exfiltration",
            Impact => "Impact",
        }
    }

    /// The tactic as a lower-case slug (`defense-evasion`), as Sigma tags and JSON use it.
    pub fn slug(self) -> &'static str {
        match self {
            Reconnaissance => "reconnaissance",
            ResourceDevelopment => "resource-development",
            InitialAccess => "initial-access",
            Execution => "execution",
            Persistence => "persistence",
            PrivilegeEscalation => "privilege-escalation",
            DefenseEvasion => "defense-evasion",
            CredentialAccess => "credential-access",
            Discovery => "discovery",
            LateralMovement => "lateral-movement",
            Collection => "collection",
            CommandAndControl => "command-and-control",
            Exfiltration => "exfiltration",
            Impact => "impact",
        }
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

/// Techniques: id, name, tactics (in matrix order).
const TECHNIQUES: &[(&str, &str, &[Tactic])] = &[
    // Reconnaissance
    (
        "T1589",
        "Gather Victim Identity Information",
        &[Reconnaissance],
    ),
    (
        "T1590",
        "Gather Victim Network Information",
        &[Reconnaissance],
    ),
    ("T1593", "Search Open Websites/Domains", &[Reconnaissance]),
    ("T1595", "Active Scanning", &[Reconnaissance]),
    // Resource Development
    ("T1583", "Acquire Infrastructure", &[ResourceDevelopment]),
    ("T1584", "Compromise Infrastructure", &[ResourceDevelopment]),
    ("T1585", "Establish Accounts", &[ResourceDevelopment]),
    ("T1586", "Compromise Accounts", &[ResourceDevelopment]),
    ("T1608", "Stage Capabilities", &[ResourceDevelopment]),
    // Initial Access
    (
        "T1078",
        "Valid Accounts",
        &[
            InitialAccess,
            Persistence,
            PrivilegeEscalation,
            DefenseEvasion,
        ],
    ),
    (
        "T1133",
        "External Remote Services",
        &[InitialAccess, Persistence],
    ),
    (
        "T1190",
        "Exploit Public-Facing Application",
        &[InitialAccess],
    ),
    ("T1195", "Supply Chain Compromise", &[InitialAccess]),
    ("T1199", "Trusted Relationship", &[InitialAccess]),
    ("T1566", "Phishing", &[InitialAccess]),
    // Execution
    (
        "T1053",
        "Scheduled Task/Job",
        &[Execution, Persistence, PrivilegeEscalation],
    ),
    ("T1059", "Command and Scripting Interpreter", &[Execution]),
    (
        "T1072",
        "Software Deployment Tools",
        &[Execution, LateralMovement],
    ),
    ("T1204", "User Execution", &[Execution]),
    ("T1609", "Container Administration Command", &[Execution]),
    ("T1610", "Deploy Container", &[Execution, DefenseEvasion]),
    ("T1648", "Serverless Execution", &[Execution]),
    ("T1651", "Cloud Administration Command", &[Execution]),
    // Persistence
    (
        "T1098",
        "Account Manipulation",
        &[Persistence, PrivilegeEscalation],
    ),
    ("T1136", "Create Account", &[Persistence]),
    ("T1525", "Implant Internal Image", &[Persistence]),
    (
        "T1546",
        "Event Triggered Execution",
        &[Persistence, PrivilegeEscalation],
    ),
    (
        "T1556",
        "Modify Authentication Process",
        &[Persistence, DefenseEvasion, CredentialAccess],
    ),
    // Privilege Escalation
    (
        "T1068",
        "Exploitation for Privilege Escalation",
        &[PrivilegeEscalation],
    ),
    (
        "T1484",
        "Domain or Tenant Policy Modification",
        &[PrivilegeEscalation, DefenseEvasion],
    ),
    (
        "T1548",
        "Abuse Elevation Control Mechanism",
        &[PrivilegeEscalation, DefenseEvasion],
    ),
    ("T1611", "Escape to Host", &[PrivilegeEscalation]),
    // Defense Evasion
    ("T1036", "Masquerading", &[DefenseEvasion]),
    ("T1070", "Indicator Removal", &[DefenseEvasion]),
    (
        "T1211",
        "Exploitation for Defense Evasion",
        &[DefenseEvasion],
    ),
    (
        "T1535",
        "Unused/Unsupported Cloud Regions",
        &[DefenseEvasion],
    ),
    (
        "T1550",
        "Use Alternate Authentication Material",
        &[DefenseEvasion, LateralMovement],
    ),
    ("T1562", "Impair Defenses", &[DefenseEvasion]),
    ("T1564", "Hide Artifacts", &[DefenseEvasion]),
    (
        "T1578",
        "Modify Cloud Compute Infrastructure",
        &[DefenseEvasion],
    ),
    ("T1599", "Network Boundary Bridging", &[DefenseEvasion]),
    ("T1600", "Weaken Encryption", &[DefenseEvasion]),
    ("T1612", "Build Image on Host", &[DefenseEvasion]),
    (
        "T1666",
        "Modify Cloud Resource Hierarchy",
        &[DefenseEvasion],
    ),
    // Credential Access
    ("T1003", "OS Credential Dumping", &[CredentialAccess]),
    ("T1040", "Network Sniffing", &[CredentialAccess, Discovery]),
    ("T1110", "Brute Force", &[CredentialAccess]),
    (
        "T1111",
        "Multi-Factor Authentication Interception",
        &[CredentialAccess],
    ),
    (
        "T1212",
        "Exploitation for Credential Access",
        &[CredentialAccess],
    ),
    (
        "T1528",
        "Steal Application Access Token",
        &[CredentialAccess],
    ),
    ("T1539", "Steal Web Session Cookie", &[CredentialAccess]),
    ("T1552", "Unsecured Credentials", &[CredentialAccess]),
    (
        "T1555",
        "Credentials from Password Stores",
        &[CredentialAccess],
    ),
    ("T1606", "Forge Web Credentials", &[CredentialAccess]),
    (
        "T1621",
        "Multi-Factor Authentication Request Generation",
        &[CredentialAccess],
    ),
    // Discovery
    (
        "T1016",
        "System Network Configuration Discovery",
        &[Discovery],
    ),
    ("T1046", "Network Service Discovery", &[Discovery]),
    (
        "T1049",
        "System Network Connections Discovery",
        &[Discovery],
    ),
    ("T1069", "Permission Groups Discovery", &[Discovery]),
    ("T1082", "System Information Discovery", &[Discovery]),
    ("T1087", "Account Discovery", &[Discovery]),
    ("T1201", "Password Policy Discovery", &[Discovery]),
    ("T1518", "Software Discovery", &[Discovery]),
    ("T1526", "Cloud Service Discovery", &[Discovery]),
    ("T1538", "Cloud Service Dashboard", &[Discovery]),
    ("T1580", "Cloud Infrastructure Discovery", &[Discovery]),
    ("T1613", "Container and Resource Discovery", &[Discovery]),
    ("T1614", "System Location Discovery", &[Discovery]),
    ("T1619", "Cloud Storage Object Discovery", &[Discovery]),
    ("T1654", "Log Enumeration", &[Discovery]),
    // Lateral Movement
    ("T1021", "Remote Services", &[LateralMovement]),
    ("T1080", "Taint Shared Content", &[LateralMovement]),
    ("T1534", "Internal Spearphishing", &[LateralMovement]),
    (
        "T1563",
        "Remote Service Session Hijacking",
        &[LateralMovement],
    ),
    // Collection
    ("T1074", "Data Staged", &[Collection]),
    ("T1114", "Email Collection", &[Collection]),
    ("T1119", "Automated Collection", &[Collection]),
    ("T1213", "Data from Information Repositories", &[Collection]),
    ("T1530", "Data from Cloud Storage", &[Collection]),
    // Command and Control
    ("T1071", "Application Layer Protocol", &[CommandAndControl]),
    ("T1090", "Proxy", &[CommandAndControl]),
    ("T1102", "Web Service", &[CommandAndControl]),
    ("T1105", "Ingress Tool Transfer", &[CommandAndControl]),
    ("T1572", "Protocol Tunneling", &[CommandAndControl]),
    // Exfiltration
    ("T1020", "Automated Exfiltration", &[Exfiltration]),
    ("T1041", "Exfiltration Over C2 Channel", &[Exfiltration]),
    (
        "T1048",
        "Exfiltration Over Alternative Protocol",
        &[Exfiltration],
    ),
    ("T1537", "Transfer Data to Cloud Account", &[Exfiltration]),
    ("T1567", "Exfiltration Over Web Service", &[Exfiltration]),
    // Impact
    ("T1485", "Data Destruction", &[Impact]),
    ("T1486", "Data Encrypted for Impact", &[Impact]),
    ("T1489", "Service Stop", &[Impact]),
    ("T1490", "Inhibit System Recovery", &[Impact]),
    ("T1491", "Defacement", &[Impact]),
    ("T1496", "Resource Hijacking", &[Impact]),
    ("T1498", "Network Denial of Service", &[Impact]),
    ("T1499", "Endpoint Denial of Service", &[Impact]),
    ("T1531", "Account Access Removal", &[Impact]),
    ("T1565", "Data Manipulation", &[Impact]),
    ("T1657", "Financial Theft", &[Impact]),
];

/// Sub-techniques: id and name; tactics come from the parent (the id before the dot).
const SUB_TECHNIQUES: &[(&str, &str)] = &[
    ("T1589.001", "Credentials"),
    ("T1589.002", "Email Addresses"),
    ("T1589.003", "Employee Names"),
    ("T1593.003", "Code Repositories"),
    ("T1595.003", "Wordlist Scanning"),
    ("T1583.006", "Web Services"),
    ("T1584.006", "Web Services"),
    ("T1585.003", "Cloud Accounts"),
    ("T1586.003", "Cloud Accounts"),
    ("T1608.001", "Upload Malware"),
    ("T1078.001", "Default Accounts"),
    ("T1078.004", "Cloud Accounts"),
    ("T1566.002", "Spearphishing Link"),
    ("T1053.007", "Container Orchestration Job"),
    ("T1059.009", "Cloud API"),
    ("T1204.003", "Malicious Image"),
    ("T1098.001", "Additional Cloud Credentials"),
    ("T1098.002", "Additional Email Delegate Permissions"),
    ("T1098.003", "Additional Cloud Roles"),
    ("T1098.004", "SSH Authorized Keys"),
    ("T1098.005", "Device Registration"),
    ("T1098.006", "Additional Container Cluster Roles"),
    ("T1136.003", "Cloud Account"),
    ("T1556.006", "Multi-Factor Authentication"),
    ("T1556.007", "Hybrid Identity"),
    ("T1556.009", "Conditional Access Policies"),
    ("T1484.001", "Group Policy Modification"),
    ("T1484.002", "Trust Modification"),
    ("T1548.005", "Temporary Elevated Cloud Access"),
    ("T1036.010", "Masquerade Account Name"),
    ("T1550.001", "Application Access Token"),
    ("T1550.004", "Web Session Cookie"),
    ("T1562.001", "Disable or Modify Tools"),
    ("T1562.007", "Disable or Modify Cloud Firewall"),
    ("T1562.008", "Disable or Modify Cloud Logs"),
    ("T1564.008", "Email Hiding Rules"),
    ("T1578.001", "Create Snapshot"),
    ("T1578.002", "Create Cloud Instance"),
    ("T1578.003", "Delete Cloud Instance"),
    ("T1578.004", "Revert Cloud Instance"),
    ("T1578.005", "Modify Cloud Compute Configurations"),
    ("T1599.001", "Network Address Translation Traversal"),
    ("T1110.001", "Password Guessing"),
    ("T1110.002", "Password Cracking"),
    ("T1110.003", "Password Spraying"),
    ("T1110.004", "Credential Stuffing"),
    ("T1552.001", "Credentials In Files"),
    ("T1552.004", "Private Keys"),
    ("T1552.005", "Cloud Instance Metadata API"),
    ("T1552.007", "Container API"),
    ("T1555.006", "Cloud Secrets Management Stores"),
    ("T1606.001", "Web Cookies"),
    ("T1606.002", "SAML Tokens"),
    ("T1069.003", "Cloud Groups"),
    ("T1087.003", "Email Account"),
    ("T1087.004", "Cloud Account"),
    ("T1518.001", "Security Software Discovery"),
    ("T1021.004", "SSH"),
    ("T1021.007", "Cloud Services"),
    ("T1021.008", "Direct Cloud VM Connections"),
    ("T1074.002", "Remote Data Staging"),
    ("T1114.003", "Email Forwarding Rule"),
    ("T1213.003", "Code Repositories"),
    ("T1090.003", "Multi-hop Proxy"),
    ("T1090.004", "Domain Fronting"),
    ("T1567.002", "Exfiltration to Cloud Storage"),
    ("T1485.001", "Lifecycle-Triggered Deletion"),
    ("T1491.002", "External Defacement"),
    ("T1496.001", "Compute Hijacking"),
    ("T1496.002", "Bandwidth Hijacking"),
    ("T1496.003", "SMS Pumping"),
    ("T1496.004", "Cloud Service Hijacking"),
    ("T1565.001", "Stored Data Manipulation"),
];

/// The technique or sub-technique with this id (`T1098`, `T1098.001`), when the table has it.
pub fn technique(id: &str) -> Option<Technique> {
    match id.split_once('.') {
        None => TECHNIQUES
            .iter()
            .find(|(t, _, _)| *t == id)
            .map(|&(id, name, tactics)| Technique {
                id,
                name,
                parent: None,
                tactics,
            }),
        Some((parent_id, _)) => {
            let &(id, name) = SUB_TECHNIQUES.iter().find(|(t, _)| *t == id)?;
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
    TECHNIQUES
        .iter()
        .filter_map(|(id, _, _)| technique(id))
        .chain(SUB_TECHNIQUES.iter().filter_map(|(id, _)| technique(id)))
        .collect()
}

#[cfg(test)]
mod tests {
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
        let mut seen = BTreeSet::new();
        for (id, name, tactics) in TECHNIQUES {
            assert!(seen.insert(*id), "{id} twice");
            assert!(id.len() == 5 && id.starts_with('T'), "{id}");
            assert!(!name.is_empty() && !tactics.is_empty(), "{id}");
            assert!(
                tactics.windows(2).all(|w| w[0] < w[1]),
                "{id}: tactics in matrix order, once each"
            );
        }
        for (id, name) in SUB_TECHNIQUES {
            assert!(seen.insert(*id), "{id} twice");
            assert!(id.len() == 9 && !name.is_empty(), "{id}");
            assert!(
                technique(&id[..5]).is_some(),
                "{id}: its parent is in the table"
            );
        }
        assert_eq!(all().len(), TECHNIQUES.len() + SUB_TECHNIQUES.len());
        // Matrix order and distinct ids.
        let ids: BTreeSet<&str> = Tactic::ALL.iter().map(|t| t.id()).collect();
        assert_eq!(ids.len(), 14);
        assert!(Tactic::ALL.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Tactic::ALL[0].name(), "Reconnaissance");
        assert_eq!(Tactic::ALL[13].slug(), "impact");
    }
}
