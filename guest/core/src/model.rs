//! The vocabulary of maas: callers, scopes, permissions, kinds and statuses, with the
//! wire strings of the original design.

use serde::{Deserialize, Serialize};

/// The operator's name in the audit trail, authorship and the change feed; no agent
/// may be registered under it (in any case).
pub const OPERATOR_NAME: &str = "operator";

/// The actor the audit trail names for a token that authenticated no one.
pub const ANONYMOUS_NAME: &str = "anonymous";

/// Who is making a call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Caller {
    /// The trusted local orchestrator; may act for any agent.
    Operator,
    /// An authenticated agent; acts as itself only.
    Agent(String),
}

impl Caller {
    /// The audit name of the caller: `operator` or the agent id.
    pub fn name(&self) -> &str {
        match self {
            Caller::Operator => OPERATOR_NAME,
            Caller::Agent(id) => id,
        }
    }
}

/// Defines a closed enum with its wire strings, parsing and listing.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            /// Parses a wire string.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The wire strings, joined for error messages.
            pub fn choices() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// How widely a share may be seen, narrowest first.
    Scope {
        /// The sharer only.
        AgentPrivate => "agent_private",
        /// Pool members with the sharer's owner.
        User => "user",
        /// Every pool member.
        Project => "project",
        /// Members of the owner's pools with the same team label.
        Team => "team",
        /// Every active agent with memory_read.
        Global => "global",
    }
}

wire_enum! {
    /// A pool member's permission, weakest first.
    Permission {
        /// Query shares.
        Read => "read",
        /// Also share.
        Write => "write",
        /// Also manage members and the pool.
        Admin => "admin",
    }
}

wire_enum! {
    /// The kind of agent.
    AgentType {
        /// Anthropic's Claude Code.
        ClaudeCode => "claude_code",
        /// A GPT-based agent.
        GptAgent => "gpt_agent",
        /// An automated pipeline (CI, tests).
        CustomPipeline => "custom_pipeline",
        /// A person.
        Human => "human",
    }
}

wire_enum! {
    /// What an agent may do.
    Capability {
        /// Read memories and shares.
        MemoryRead => "memory_read",
        /// Store, update, share memories.
        MemoryWrite => "memory_write",
        /// Delete others' memories.
        MemoryDelete => "memory_delete",
        /// Search code.
        KbSearch => "kb_search",
        /// Search decisions.
        DecisionRead => "decision_read",
        /// Search incidents.
        IncidentRead => "incident_read",
        /// Start handoffs.
        HandoffInitiate => "handoff_initiate",
        /// Receive handoffs.
        HandoffReceive => "handoff_receive",
    }
}

wire_enum! {
    /// What a memory records.
    MemoryKind {
        /// A preference.
        Preference => "preference",
        /// A fact.
        Fact => "fact",
        /// A decision.
        Decision => "decision",
        /// A note.
        Note => "note",
    }
}

wire_enum! {
    /// Where a handoff is in its lifecycle.
    HandoffStatus {
        /// Waiting for the target.
        Pending => "pending",
        /// Taken by the target.
        Accepted => "accepted",
        /// Refused by the target.
        Rejected => "rejected",
        /// Done.
        Completed => "completed",
        /// Its ttl passed while pending.
        Expired => "expired",
        /// Withdrawn by the source.
        Cancelled => "cancelled",
        /// Taken, and the target asked the source a question; back to accepted when the
        /// source answers. (Last, so positional encodings of the others stay.)
        InputRequired => "input_required",
    }
}

wire_enum! {
    /// What a knowledge document is.
    DocumentKind {
        /// Source code.
        Code => "code",
        /// An architecture decision.
        Decision => "decision",
        /// An incident report.
        Incident => "incident",
    }
}

impl AgentType {
    /// The capabilities an agent of this type gets when none are given.
    pub fn default_capabilities(self) -> Vec<Capability> {
        use Capability::*;
        match self {
            AgentType::ClaudeCode | AgentType::GptAgent => Capability::ALL
                .iter()
                .copied()
                .filter(|c| *c != MemoryDelete)
                .collect(),
            AgentType::CustomPipeline => vec![MemoryRead, KbSearch, DecisionRead, IncidentRead],
            AgentType::Human => Capability::ALL.to_vec(),
        }
    }
}

impl HandoffStatus {
    /// True for states a handoff never leaves.
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            HandoffStatus::Pending | HandoffStatus::Accepted | HandoffStatus::InputRequired
        )
    }
}

impl DocumentKind {
    /// The capability its search and get need.
    pub fn capability(self) -> Capability {
        match self {
            DocumentKind::Code => Capability::KbSearch,
            DocumentKind::Decision => Capability::DecisionRead,
            DocumentKind::Incident => Capability::IncidentRead,
        }
    }
}

/// For `skip_serializing_if`: a flag that is off is left out of the encoding.
pub fn is_false(flag: &bool) -> bool {
    !flag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_round_trip() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(*s));
            assert_eq!(
                serde_json::to_string(s).ok(),
                Some(format!("\"{}\"", s.as_str()))
            );
        }
        for c in Capability::ALL {
            assert_eq!(Capability::parse(c.as_str()), Some(*c));
        }
        assert_eq!(AgentType::parse("claude_code"), Some(AgentType::ClaudeCode));
        assert_eq!(
            HandoffStatus::parse("cancelled"),
            Some(HandoffStatus::Cancelled)
        );
    }

    #[test]
    fn scopes_and_permissions_are_ordered_narrowest_first() {
        assert!(Scope::AgentPrivate < Scope::User && Scope::User < Scope::Project);
        assert!(Scope::Project < Scope::Team && Scope::Team < Scope::Global);
        assert!(Permission::Read < Permission::Write && Permission::Write < Permission::Admin);
    }

    #[test]
    fn default_capabilities_follow_the_design() {
        let cc = AgentType::ClaudeCode.default_capabilities();
        assert_eq!(cc.len(), 7);
        assert!(!cc.contains(&Capability::MemoryDelete));
        assert_eq!(AgentType::Human.default_capabilities().len(), 8);
        assert_eq!(
            AgentType::CustomPipeline.default_capabilities(),
            vec![
                Capability::MemoryRead,
                Capability::KbSearch,
                Capability::DecisionRead,
                Capability::IncidentRead
            ]
        );
    }
}
