-- Mentorcast reference backend: channels, live sessions, who watched, recordings.
-- Times are unix seconds.

CREATE TABLE channels (
    id              INTEGER PRIMARY KEY,
    mentor_sub      TEXT NOT NULL UNIQUE,      -- Cognito sub of the channel's mentor
    mentor_username TEXT NOT NULL,
    app             TEXT NOT NULL UNIQUE,      -- RTMP application name (the class room)
    stream_key      TEXT NOT NULL UNIQUE,      -- current secret key; rotation replaces it
    key_issued_at   INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);

-- One row per accepted publish (on_publish) until on_publish_done ends it.
CREATE TABLE live_sessions (
    id              INTEGER PRIMARY KEY,
    channel_id      INTEGER NOT NULL REFERENCES channels(id),
    app             TEXT NOT NULL,
    mentor_sub      TEXT NOT NULL,
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER,
    viewers_total   INTEGER NOT NULL DEFAULT 0,
    viewers_peak    INTEGER NOT NULL DEFAULT 0,
    stats_json      TEXT                       -- mentorcast_api::StreamStats when it ended
);
CREATE INDEX live_sessions_app ON live_sessions(app, ended_at);

-- Signed-in viewers who sent a heartbeat during a live session.
CREATE TABLE participants (
    live_session_id INTEGER NOT NULL REFERENCES live_sessions(id),
    user_sub        TEXT NOT NULL,
    username        TEXT NOT NULL,
    first_seen      INTEGER NOT NULL,
    PRIMARY KEY (live_session_id, user_sub)
);

CREATE TABLE recordings (
    id              INTEGER PRIMARY KEY,
    live_session_id INTEGER REFERENCES live_sessions(id),
    app             TEXT NOT NULL,
    mentor_sub      TEXT NOT NULL,
    mentor_username TEXT NOT NULL,
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER NOT NULL,
    duration_s      REAL NOT NULL,
    size_bytes      INTEGER NOT NULL,
    media_key       TEXT NOT NULL,             -- storage key of the MP4
    thumbnail_key   TEXT NOT NULL,             -- storage key of the JPEG
    source_path     TEXT NOT NULL,             -- the FLV the ingest recorded
    created_at      INTEGER NOT NULL
);
CREATE INDEX recordings_app ON recordings(app);
CREATE INDEX recordings_session ON recordings(live_session_id);
