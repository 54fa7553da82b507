//! placeholder until the real module lands
/// Threat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Threat {
    /// a
    SqlInjection,
    /// b
    ScriptInjection,
    /// c
    PromptInjection,
}
impl Threat {
    /// s
    pub fn as_str(self) -> &'static str {
        "x"
    }
}
/// t
pub fn threats(_t: &str) -> Vec<Threat> {
    vec![]
}
/// r
pub fn redact_secrets(t: &str) -> String {
    t.to_string()
}
/// q
pub struct QueryAnalysis {
    /// s
    pub score: f64,
    /// r
    pub reasons: Vec<&'static str>,
}
/// a
pub fn analyze_query(_t: &str) -> QueryAnalysis {
    QueryAnalysis {
        score: 0.0,
        reasons: vec![],
    }
}
/// s
pub fn is_suspicious(t: &str) -> bool { !threats(t).is_empty() }
/// s
pub fn sanitize(t: &str) -> String { t.to_string() }
