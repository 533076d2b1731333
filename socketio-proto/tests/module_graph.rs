//! The modules of the crate depend on each other in one direction only.

#[test]
fn no_module_cycles() {
    engineio_proto::testing::assert_no_module_cycles(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
    );
}
