//! `mentorcast test-connection`: the engine's connection test against the
//! ingest's test application (nothing recorded, nothing shown to viewers),
//! with its measurements and recommendations as text or JSON.

/// `mentorcast test-connection`.
pub async fn run(
    config: &crate::config::Config,
    url: Option<String>,
    key: Option<String>,
    ca_file: Option<std::path::PathBuf>,
    audio_kbps: u32,
    json: bool,
) -> anyhow::Result<i32> {
    use crate::exit::{self, exit};
    use mentorcast_engine::{connection_test, Service, TlsOptions};
    let (url, key) = match url {
        Some(u) => (u, key),
        None => match crate::api_cmd::own_channel(config).await? {
            Some(ch) => (ch.test_url.clone(), key.or(Some(ch.stream_key.clone()))),
            None => match &config.ingest.url {
                Some(u) => (connection_test::test_url_beside(u), key.or(Some("test".into()))),
                None => {
                    return Err(exit(
                        exit::BAD_ARGS,
                        "no ingest to test: give its URL, sign in as a mentor, or set [ingest] url in the config",
                    ))
                }
            },
        },
    };
    let service =
        Service::parse(&url, key.as_deref()).map_err(|e| exit(exit::BAD_ARGS, format!("Bad ingest URL: {e}.")))?;
    if !json {
        eprintln!("Testing the connection to {service} (up to {} s)…", connection_test::TEST_WITHIN.as_secs());
    }
    let report = connection_test::run_net(&service, TlsOptions { extra_ca_file: ca_file }, audio_kbps)
        .await
        .map_err(|e| exit(exit::code_for(e.kind()), exit::explain(e.kind(), &e.to_string())))?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let rtt =
            report.rtt_ms.map(|r| format!("{r:.0} ms")).unwrap_or_else(|| "not measured (no ping answers)".into());
        println!("upload {:.0} kbit/s, round trip {rtt}", report.upload_kbps);
        for (i, r) in report.recommendations.iter().enumerate() {
            let p = r.preset.preset();
            println!(
                "{} {} at {} kbps video",
                if i == 0 { "recommended:" } else { "        also:" },
                p.label,
                r.video_kbps
            );
        }
    }
    Ok(exit::OK)
}
