//! The crate's modules depend on each other without a cycle: the builder
//! (`adapter`) and the codecs below, each mode's I/O above them, and
//! `attach` on top choosing the mode.

#[test]
fn no_module_cycles() {
    engineio_proto::testing::assert_no_module_cycles(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
    );
}
