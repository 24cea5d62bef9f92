//! The data plane binary; built out in the next issue.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("the data plane is not built yet")
}
