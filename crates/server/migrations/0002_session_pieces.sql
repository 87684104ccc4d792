-- A live session continues over the encoder's reconnects: each accepted publish
-- of it is a segment, and each segment's FLV (one per publish at the ingest) is
-- a piece of the session's one recording, joined in start order with the
-- outages as gaps.

CREATE TABLE publish_segments (
    id              INTEGER PRIMARY KEY,
    live_session_id INTEGER NOT NULL REFERENCES live_sessions(id),
    started_ms      INTEGER NOT NULL,          -- unix ms when the publish was accepted
    ended_ms        INTEGER                    -- unix ms of its publish_done
);
CREATE INDEX publish_segments_session ON publish_segments(live_session_id, started_ms);

CREATE TABLE recording_pieces (
    id              INTEGER PRIMARY KEY,
    live_session_id INTEGER REFERENCES live_sessions(id),
    source_path     TEXT NOT NULL UNIQUE,      -- the FLV the ingest recorded
    started_ms      INTEGER NOT NULL,          -- where it sits on the session's timeline
    duration_s      REAL NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX recording_pieces_session ON recording_pieces(live_session_id, started_ms);
