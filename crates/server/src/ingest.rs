//! The ingest's side of channels. nginx-rtmp applications are static config,
//! so every channel needs an `application {app} {…}` block: [`IngestApps`]
//! renders all channels through `ingest.app_template_file` (`{app}` replaced)
//! into `ingest.apps_file` (which nginx.conf includes), atomically, runs
//! `ingest.reload_command` when the file changed, and waits until nginx's
//! `/stat` lists the application, so a mentor can publish as soon as
//! `GET /api/v1/channel` answers. It also remembers which publisher
//! (nginx `clientid`) owns each live session.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::config::IngestConfig;
use crate::AppState;

/// Why the ingest could not be made to serve the channels.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("reading the application template {path}: {source}")]
    Template { path: String, source: std::io::Error },
    #[error("writing {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("the reload command {cmd:?} failed: {detail}")]
    Reload { cmd: String, detail: String },
    #[error("nginx did not list application {app} in /stat within {secs} s")]
    NotListed { app: String, secs: u64 },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// The publisher that owns a live session (from `on_publish`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEntry {
    pub session_id: i64,
    /// nginx-rtmp's `clientid` of the publishing connection.
    pub clientid: String,
}

/// The channels' nginx-rtmp applications (apps file, reload, `/stat`) and who publishes each live channel.
pub struct IngestApps {
    cfg: IngestConfig,
    sync_lock: tokio::sync::Mutex<()>,
    /// Applications known to be served by the running nginx.
    served: std::sync::Mutex<HashSet<String>>,
    http: reqwest::Client,
    live: std::sync::Mutex<HashMap<String, LiveEntry>>,
}

const LISTED_TIMEOUT: Duration = Duration::from_secs(5);
const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);

impl IngestApps {
    /// For the `[ingest]` config; nothing is written or reloaded until the first sync.
    pub fn new(cfg: &IngestConfig) -> IngestApps {
        // No idle connections: after a reload the old worker must not answer /stat.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap_or_default();
        IngestApps {
            cfg: cfg.clone(),
            sync_lock: tokio::sync::Mutex::new(()),
            served: Default::default(),
            http,
            live: Default::default(),
        }
    }

    /// Whether we manage nginx applications at all (an apps file is configured).
    pub fn enabled(&self) -> bool {
        self.cfg.apps_file.is_some() && self.cfg.app_template_file.is_some()
    }

    /// Renders every channel into the apps file; reloads nginx when it changed. Returns whether it changed.
    pub async fn sync(&self, db: &sqlx::SqlitePool) -> Result<bool, IngestError> {
        let (Some(apps_file), Some(template_file)) = (&self.cfg.apps_file, &self.cfg.app_template_file) else {
            return Ok(false);
        };
        let _guard = self.sync_lock.lock().await;
        let template = tokio::fs::read_to_string(template_file)
            .await
            .map_err(|source| IngestError::Template { path: template_file.display().to_string(), source })?;
        let apps: Vec<(String,)> = sqlx::query_as("SELECT app FROM channels ORDER BY id").fetch_all(db).await?;
        let text = render(&template, apps.iter().map(|(a,)| a.as_str()));
        let current = tokio::fs::read_to_string(apps_file).await.unwrap_or_default();
        if same_config(&current, &text) {
            return Ok(false);
        }
        write_atomically(apps_file, &text)
            .await
            .map_err(|source| IngestError::Write { path: apps_file.display().to_string(), source })?;
        tracing::info!(apps = apps.len(), file = %apps_file.display(), "ingest applications written");
        self.served.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.reload().await?;
        Ok(true)
    }

    async fn reload(&self) -> Result<(), IngestError> {
        let Some((prog, args)) = self.cfg.reload_command.split_first() else { return Ok(()) };
        let cmd = self.cfg.reload_command.join(" ");
        let run = tokio::process::Command::new(prog)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(RELOAD_TIMEOUT, run)
            .await
            .map_err(|_| IngestError::Reload {
                cmd: cmd.clone(),
                detail: format!("no answer in {} s", RELOAD_TIMEOUT.as_secs()),
            })?
            .map_err(|e| IngestError::Reload { cmd: cmd.clone(), detail: e.to_string() })?;
        if !out.status.success() {
            let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
            detail.truncate(400);
            return Err(IngestError::Reload { cmd, detail: format!("{}: {detail}", out.status) });
        }
        tracing::info!("ingest reloaded");
        Ok(())
    }

    /// Makes sure nginx serves `app`: syncs the apps file, then waits (≤ 5 s) until `/stat` lists it.
    pub async fn ensure(&self, db: &sqlx::SqlitePool, app: &str) -> Result<(), IngestError> {
        if !self.enabled() || self.served.lock().unwrap_or_else(|p| p.into_inner()).contains(app) {
            return Ok(());
        }
        self.sync(db).await?;
        self.wait_listed(app).await?;
        self.served.lock().unwrap_or_else(|p| p.into_inner()).insert(app.to_string());
        Ok(())
    }

    async fn wait_listed(&self, app: &str) -> Result<(), IngestError> {
        let Some(url) = &self.cfg.stat_url else { return Ok(()) };
        let deadline = Instant::now() + LISTED_TIMEOUT;
        loop {
            if let Ok(resp) = self.http.get(url).send().await {
                if let Ok(text) = resp.text().await {
                    if stat_lists_app(&text, app) {
                        return Ok(());
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(IngestError::NotListed { app: app.to_string(), secs: LISTED_TIMEOUT.as_secs() });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether nginx's `/stat` shows a publisher in application `app` now;
    /// None when there is no stat URL or it cannot be read.
    pub async fn publishing(&self, app: &str) -> Option<bool> {
        let url = self.cfg.stat_url.as_ref()?;
        let text = self.http.get(url).send().await.ok()?.text().await.ok()?;
        Some(stat_app_publishing(&text, app))
    }

    /// Records who publishes `app` now.
    pub fn set_live(&self, app: &str, entry: LiveEntry) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(app.to_string(), entry);
    }

    /// The live entry of `app`, if we saw its `on_publish` (not after a restart).
    pub fn live(&self, app: &str) -> Option<LiveEntry> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).get(app).cloned()
    }

    /// Forgets who publishes `app` (its live session ended).
    pub fn clear_live(&self, app: &str) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).remove(app);
    }

    /// The `[ingest]` config.
    pub fn config(&self) -> &IngestConfig {
        &self.cfg
    }
}

/// The apps file: one rendered template per application.
pub fn render<'a>(template: &str, apps: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::from("# written by mentorcast-server from the application template -- do not edit\n");
    for app in apps {
        if !crate::channels::valid_app(app) {
            tracing::warn!(%app, "skipping a channel whose application name nginx cannot take");
            continue;
        }
        out.push_str(&template.replace("{app}", app));
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Whether two apps files configure nginx the same way: comments and blank lines
/// aside, the same lines. A reload for a comment alone would be wasted, and worse:
/// while nginx switches workers, a subscriber can land in the old one and never
/// meet a publisher that lands in the new one.
pub fn same_config(a: &str, b: &str) -> bool {
    fn significant(text: &str) -> impl Iterator<Item = &str> {
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
    }
    significant(a).eq(significant(b))
}

/// Whether nginx-rtmp's `/stat` XML has an `<application>` named `app`.
pub fn stat_lists_app(xml: &str, app: &str) -> bool {
    let want = format!("<name>{app}</name>");
    xml.split("<application>").skip(1).any(|chunk| chunk.trim_start().starts_with(&want))
}

/// Whether application `app` in nginx-rtmp's `/stat` XML has a stream being published.
pub fn stat_app_publishing(xml: &str, app: &str) -> bool {
    let want = format!("<name>{app}</name>");
    xml.split("<application>")
        .skip(1)
        .find(|chunk| chunk.trim_start().starts_with(&want))
        .map(|chunk| chunk.split("</application>").next().unwrap_or("").contains("<publishing/>"))
        .unwrap_or(false)
}

async fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = tmp.clone();
        let text = text.to_string();
        // 0600: the blocks carry the hook secret.
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()
        })
        .await
        .map_err(std::io::Error::other)??;
    }
    tokio::fs::rename(&tmp, path).await
}

/// At server start: write the apps file (a reload failure while nginx is not up yet is only logged).
pub async fn sync_all(state: &AppState) {
    match state.ingest.sync(&state.db).await {
        Ok(changed) => tracing::debug!(changed, "ingest applications in sync"),
        Err(e) => {
            tracing::warn!(
                error = %e,
                "could not bring the ingest's applications up to date \
                 (they are retried on the next channel call)"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_app() {
        let t = "application {app} {\n    push rtmp://x/hls playPath={app};\n}\n";
        let out = render(t, ["room-a", "bad app", "room-b"].into_iter());
        assert!(out.contains("application room-a {\n    push rtmp://x/hls playPath=room-a;"));
        assert!(out.contains("application room-b {"));
        assert!(!out.contains("bad app"));
    }

    #[test]
    fn comments_and_blank_lines_do_not_count_as_a_change() {
        let t = "application {app} {\n    live on;\n}\n";
        let none = render(t, std::iter::empty());
        // What scripts/stack.sh writes before the backend first runs.
        assert!(same_config("# channel applications: written by mentorcast-server\n", &none));
        assert!(same_config("", &none));
        let one = render(t, ["room-a"].into_iter());
        assert!(!same_config(&none, &one));
        assert!(same_config(
            &format!("# another header\n\n{}", one.lines().skip(1).collect::<Vec<_>>().join("\n")),
            &one
        ));
        assert!(!same_config(&one, &render(t, ["room-b"].into_iter())));
    }

    /// The server's start with no channel against the stack's placeholder file
    /// must not run the reload command (it did, on every `stack.sh up`).
    #[tokio::test]
    async fn sync_with_nothing_new_does_not_reload() {
        let dir = tempfile::tempdir().unwrap();
        let apps = dir.path().join("apps.conf");
        let template = dir.path().join("app.template");
        let marker = dir.path().join("reloaded");
        std::fs::write(&apps, "# channel applications: written by mentorcast-server\n").unwrap();
        std::fs::write(&template, "application {app} {\n    live on;\n}\n").unwrap();
        let cfg = IngestConfig {
            rtmp_url: "rtmp://127.0.0.1:1".into(),
            rtmps_url: None,
            hls_url: "http://127.0.0.1:1/channels".into(),
            stat_url: None,
            apps_file: Some(apps.clone()),
            app_template_file: Some(template),
            reload_command: vec!["touch".into(), marker.display().to_string()],
            record_dir: None,
        };
        let db = crate::db::open(&format!("sqlite://{}", dir.path().join("db.sqlite").display())).await.unwrap();
        let ingest = IngestApps::new(&cfg);
        assert!(!ingest.sync(&db).await.unwrap(), "no channel and a placeholder: nothing to change");
        assert!(!marker.exists(), "the reload command ran although nothing changed");
        sqlx::query(
            "INSERT INTO channels (mentor_sub, mentor_username, app, stream_key, key_issued_at, created_at) \
             VALUES ('s', 'mentor1', 'room-mentor1', 'sk_x', 0, 0)",
        )
        .execute(&db)
        .await
        .unwrap();
        assert!(ingest.sync(&db).await.unwrap(), "a new channel changes the file");
        assert!(marker.exists(), "a changed file reloads the ingest");
        assert!(std::fs::read_to_string(&apps).unwrap().contains("application room-mentor1 {"));
    }

    #[test]
    fn stat_parsing() {
        let xml = "<rtmp><server><application>\n<name>live</name>\
            <live><stream><name>room-a</name></stream></live></application>\
            <application><name>room-b</name></application></server></rtmp>";
        assert!(stat_lists_app(xml, "live"));
        assert!(stat_lists_app(xml, "room-b"));
        assert!(!stat_lists_app(xml, "room-a"), "a stream, not an application");
        let live = "<rtmp><server><application><name>room-a</name>\
            <live><stream><name>room-a</name><client><id>3</id><publishing/><active/></client></stream></live>\
            </application><application><name>room-b</name><live><nclients>0</nclients></live></application>\
            </server></rtmp>";
        assert!(stat_app_publishing(live, "room-a"));
        assert!(!stat_app_publishing(live, "room-b"));
        assert!(!stat_app_publishing(live, "room-c"));
        assert!(!stat_lists_app(xml, "room"));
    }
}
