//! `mentorcast bench`: placeholder filled in below.
use anyhow::Result;

#[derive(clap::Args)]
pub struct BenchArgs {}

pub async fn run(_args: BenchArgs, _config: &crate::config::Config) -> Result<i32> {
    Ok(0)
}
pub fn bench_encode(_r: &str, _f: u32, _k: u32, _n: u64) -> Result<i32> {
    Ok(0)
}
pub fn gen_raw(_r: &str, _f: u32, _n: u64) -> Result<i32> {
    Ok(0)
}
