//! The Studio's "Test connection": the engine's connection test (at most 10 s,
//! nothing recorded or shown to viewers) against the ingest's test application
//! beside where Go Live would send, with the channel's key.

use mentorcast_engine::connection_test::{self, ConnectionReport};
use mentorcast_engine::{FailureKind, Service};

use crate::dto::{ErrorKindDto, UiError};
use crate::settings::AppSettings;
use crate::studio::AUDIO_KBPS;

/// Where the test goes: beside the QA override when one is set, else the channel's test address.
pub fn test_service(settings: &AppSettings, channel: Option<&mentorcast_api::Channel>) -> Result<Service, UiError> {
    let bad = |e: mentorcast_engine::ServiceError| {
        UiError::new(ErrorKindDto::BadInput, format!("the ingest address is not usable: {e}"))
    };
    match (settings.ingest_override_url.as_deref(), channel) {
        (Some(url), _) => {
            Service::parse(&connection_test::test_url_beside(url), settings.ingest_override_key.as_deref()).map_err(bad)
        }
        (None, Some(ch)) => {
            let url = if ch.test_url.is_empty() {
                connection_test::test_url_beside(&ch.ingest_url)
            } else {
                ch.test_url.clone()
            };
            Service::parse(&url, Some(&ch.stream_key)).map_err(bad)
        }
        (None, None) => Err(UiError::new(
            ErrorKindDto::Misconfigured,
            "no channel to test: sign in as a mentor, or set an ingest override in Settings",
        )),
    }
}

/// Runs the test; the error says what failed in the Studio's words.
pub async fn test(service: &Service) -> Result<ConnectionReport, UiError> {
    let tls = mentorcast_engine::TlsOptions {
        extra_ca_file: std::env::var_os("MENTORCAST_CA_FILE").map(std::path::PathBuf::from),
    };
    connection_test::run_net(service, tls, AUDIO_KBPS).await.map_err(|e| {
        let kind = match e.kind() {
            FailureKind::Rejected => ErrorKindDto::Forbidden,
            FailureKind::CannotConnect | FailureKind::ConnectionLost => ErrorKindDto::Network,
            FailureKind::Config => ErrorKindDto::BadInput,
        };
        UiError::new(kind, format!("the connection test failed: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel() -> mentorcast_api::Channel {
        mentorcast_api::Channel {
            app: "room-a".into(),
            ingest_url: "rtmp://ingest.example/room-a".into(),
            test_url: "rtmp://ingest.example/probe".into(),
            stream_key: "sk_secret".into(),
            hls_url: String::new(),
            watch_url: String::new(),
            key_issued_at: 0,
        }
    }

    #[test]
    fn the_test_goes_beside_where_go_live_sends() {
        let s = test_service(&AppSettings::default(), Some(&channel())).unwrap();
        assert_eq!((s.app.as_str(), s.key()), ("probe", "sk_secret"));
        let old = mentorcast_api::Channel { test_url: String::new(), ..channel() };
        assert_eq!(
            test_service(&AppSettings::default(), Some(&old)).unwrap().app,
            "probe",
            "a backend without test_url"
        );
        let qa = AppSettings {
            ingest_override_url: Some("rtmp://127.0.0.1:1935/live".into()),
            ingest_override_key: Some("qa".into()),
            ..Default::default()
        };
        let s = test_service(&qa, Some(&channel())).unwrap();
        assert_eq!((s.app.as_str(), s.key()), ("probe", "qa"));
        assert_eq!(test_service(&AppSettings::default(), None).unwrap_err().kind, ErrorKindDto::Misconfigured);
    }

    #[tokio::test]
    async fn an_unreachable_ingest_is_a_network_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let s = Service::parse(&format!("rtmp://127.0.0.1:{port}/probe"), Some("k")).unwrap();
        let e = test(&s).await.unwrap_err();
        assert_eq!(e.kind, ErrorKindDto::Network, "{e:?}");
        assert!(e.message.starts_with("The connection test failed"), "{}", e.message);
    }
}
