//! Compiles `proto/` with protox (pure Rust), so no machine needs a system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = "../proto";
    let files = ["../proto/mcpgw/v1/mcpgw.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let fds = protox::compile(files, [proto_root])?;
    tonic_prost_build::configure()
        .type_attribute(".", "#[allow(clippy::all, clippy::pedantic)]")
        .compile_fds(fds)?;
    Ok(())
}
