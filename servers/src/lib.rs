//! The project's binaries (see `src/bin`): `demo` (README's first
//! command), `conformance-fixture` (the fixture of PROTOCOL.md, for the
//! official protocol test suites) and `interop-server` (what the interop
//! tests in `tests/interop` talk to). The library itself is empty.
