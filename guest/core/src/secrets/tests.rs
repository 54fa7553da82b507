use super::*;

#[test]
fn every_shipped_rule_compiles() {
    assert!(builtin::all_compile());
    let stats = rule_stats();
    assert!(stats.shipped >= 200, "{stats:?}");
    assert_eq!(stats.skipped, Vec::<String>::new());
    assert_eq!(stats.compiled, stats.shipped);
    assert_eq!(stats.commit.len(), 40);
}
