//! The crate's top-level modules depend on each other without a cycle:
//! each piece of state has one owner module, reached through its API.

#[test]
fn no_module_cycles() {
    engineio_proto::testing::assert_no_module_cycles(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
    );
}
