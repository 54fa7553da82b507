//! The component answers through the host.

use maas_tests::*;

#[test]
fn operator_registers_and_an_agent_reads_itself_with_its_token() {
    let mut h = Harness::new();
    let token = h.register("backend", agents::AgentType::ClaudeCode, "user-123");
    assert!(token.starts_with("maas_"));
    let who =
        h.rt.call(|c, s| c.maas_core_agents().call_authenticate(s, &token))
            .unwrap_or_else(|e| panic!("token works: {e}"));
    assert_eq!(who, "backend");
    let me =
        h.rt.call(|c, s| {
            c.maas_core_agents()
                .call_get(s, &agent("backend"), "backend")
        })
        .unwrap_or_else(|e| panic!("visible to itself: {e}"));
    assert_eq!(me.capabilities.len(), 7);
    let digest = h.digest();
    let mut replica = h.replica();
    let replayed = replica
        .call(|c, s| c.maas_core_admin().call_state_digest(s, &op()))
        .unwrap_or_else(|e| panic!("replica digest: {e}"));
    assert_eq!(digest, replayed);
}
