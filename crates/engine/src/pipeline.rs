//! Sources → encoders, on threads: a capture thread per source pulls frames
//! (a camera waits for the device, the synthetic source for the clock) and
//! hands them to its encoder thread; encoded packets go to the output.
//!
//! Video: capture → [`DropOldest`] (4 raw frames: capture never waits for a
//! slow encoder; frames it drops count as dropped) → H.264 → output. Audio:
//! capture → mute and level meter ([`AudioTap`]) → AAC → output. The encoders
//! only hand packets over: what to drop is the output's decision.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use mentorcast_media::{AudioChunk, AudioSource, MediaClock, SourceStatus, VideoSource};
use tokio::sync::watch;

use crate::encode::{AudioEncoder, AudioSettings, VideoOutput, VideoSettings};
use crate::ladder::VideoLadder;
use crate::output::{EncoderControl, MediaPacket};
use crate::queue::DropOldest;
use crate::stats::{AudioLevel, LevelMeter};

/// Raw frames waiting for the encoder (about 130 ms at 30 fps).
const RAW_VIDEO_QUEUE: usize = 4;
/// Raw audio chunks waiting for the encoder (a second at 10 ms chunks).
const RAW_AUDIO_QUEUE: usize = 100;

/// Where encoders hand their packets: the output, and the local copy when
/// there is one (it gets every packet, those the network will lose included).
/// Never blocks, never drops: what to drop is the output's decision.
#[derive(Clone)]
pub struct PacketSender {
    pub output: tokio::sync::mpsc::UnboundedSender<MediaPacket>,
    pub copy: Option<std::sync::mpsc::Sender<MediaPacket>>,
}

impl PacketSender {
    /// Hands a packet over; false once the output is gone.
    fn send(&self, p: MediaPacket) -> bool {
        if let Some(c) = &self.copy {
            let _ = c.send(p.clone());
        }
        self.output.send(p).is_ok()
    }
}

/// What the capture and encoder threads count.
#[derive(Default)]
pub struct PipelineCounters {
    pub captured: AtomicU64,
    pub capture_dropped: AtomicU64,
    pub encoded: AtomicU64,
    pub skipped: AtomicU64,
    /// The picture size the encoder runs at (width << 32 | height; 0 before it starts).
    size: AtomicU64,
}

impl PipelineCounters {
    fn set_size(&self, width: u32, height: u32) {
        self.size.store((width as u64) << 32 | height as u64, Ordering::Relaxed);
    }

    /// The picture size the encoder runs at now (it is smaller than the
    /// configured one while the bitrate is far under it).
    pub fn size(&self) -> Option<(u32, u32)> {
        let s = self.size.load(Ordering::Relaxed);
        (s != 0).then_some(((s >> 32) as u32, s as u32))
    }
}

/// Applies mute and measures the level of each chunk on its way to the encoder.
pub struct AudioTap {
    pub muted: Arc<AtomicBool>,
    pub level_tx: watch::Sender<Option<AudioLevel>>,
    pub meter: LevelMeter,
}

impl AudioTap {
    fn process(&mut self, chunk: &mut AudioChunk) {
        if self.muted.load(Ordering::Relaxed) {
            chunk.samples.fill(0);
        }
        for level in self.meter.push(&chunk.samples) {
            let _ = self.level_tx.send(Some(level));
        }
    }
}

/// The running threads.
pub struct Pipeline {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    pub video_status: Option<SourceStatus>,
    pub audio_status: Option<SourceStatus>,
    pub counters: Arc<PipelineCounters>,
}

/// Encoders made before anything connects (a bad setting fails first).
pub struct Encoders {
    video: Option<(Box<dyn VideoSource>, VideoLadder)>,
    audio: Option<(Box<dyn AudioSource>, AudioEncoder)>,
}

impl Encoders {
    pub fn new(
        video: Option<(Box<dyn VideoSource>, VideoSettings)>,
        audio: Option<(Box<dyn AudioSource>, AudioSettings)>,
    ) -> Result<Self, crate::encode::EncodeError> {
        let video = match video {
            Some((src, s)) => Some((src, VideoLadder::new(s)?)),
            None => None,
        };
        let audio = match audio {
            Some((src, s)) => Some((src, AudioEncoder::new(s)?)),
            None => None,
        };
        Ok(Self { video, audio })
    }

    /// The video encoder's configured settings.
    pub fn video_settings(&self) -> Option<VideoSettings> {
        self.video.as_ref().map(|(_, e)| e.configured())
    }

    /// The AudioSpecificConfig of the audio encoder.
    pub fn audio_config(&self) -> Option<[u8; 2]> {
        self.audio.as_ref().map(|(_, e)| e.specific_config())
    }

    /// Starts the sources on `clock` and the threads; packets go to `tx`.
    pub fn start(self, clock: MediaClock, tx: PacketSender, control: EncoderControl, mut tap: AudioTap) -> Pipeline {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(PipelineCounters::default());
        let mut threads = Vec::new();
        let video_status = self.video.as_ref().and_then(|(v, _)| v.status());
        let audio_status = self.audio.as_ref().and_then(|(a, _)| a.status());

        if let Some((mut src, mut encoder)) = self.video {
            let queue = Arc::new(DropOldest::new(RAW_VIDEO_QUEUE));
            src.start(clock);
            let (q, stop, c) = (queue.clone(), stop.clone(), counters.clone());
            threads.push(spawn_named("video-capture", move || {
                let mut last_index: Option<u64> = None;
                while !stop.load(Ordering::Relaxed) {
                    match src.next_frame() {
                        Ok(frame) => {
                            if let Some(last) = last_index {
                                // The source fell behind and skipped frames: they count as dropped.
                                let gap = frame.index.saturating_sub(last + 1);
                                c.capture_dropped.fetch_add(gap, Ordering::Relaxed);
                            }
                            last_index = Some(frame.index);
                            c.captured.fetch_add(1, Ordering::Relaxed);
                            if q.push(frame).is_some() {
                                c.capture_dropped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(e) => {
                            tracing::warn!("video source ended: {e}");
                            break;
                        }
                    }
                }
                q.close();
            }));
            let (tx, c) = (tx.clone(), counters.clone());
            threads.push(spawn_named("video-encode", move || {
                while let Some(frame) = queue.pop() {
                    if control.keyframe.take() {
                        encoder.force_keyframe();
                    }
                    if let Err(e) = encoder.update(control.bitrate.get(), std::time::Instant::now()) {
                        tracing::warn!("{e}");
                    }
                    let size = encoder.current();
                    c.set_size(size.width, size.height);
                    match encoder.encode(&frame) {
                        Ok(VideoOutput::Packet(p)) => {
                            c.encoded.fetch_add(1, Ordering::Relaxed);
                            if !tx.send(MediaPacket::Video(p)) {
                                break;
                            }
                        }
                        Ok(VideoOutput::Skipped) => {
                            c.skipped.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            tracing::error!("video encoder failed: {e}");
                            break;
                        }
                    }
                }
            }));
        }

        if let Some((mut src, mut encoder)) = self.audio {
            let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel(RAW_AUDIO_QUEUE);
            src.start(clock);
            let stop = stop.clone();
            threads.push(spawn_named("audio-capture", move || {
                while !stop.load(Ordering::Relaxed) {
                    match src.next_chunk() {
                        Ok(mut chunk) => {
                            tap.process(&mut chunk);
                            if raw_tx.send(chunk).is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!("audio source ended: {e}");
                            break;
                        }
                    }
                }
            }));
            threads.push(spawn_named("audio-encode", move || {
                while let Ok(chunk) = raw_rx.recv() {
                    match encoder.encode(&chunk) {
                        Ok(packets) => {
                            for p in packets {
                                if !tx.send(MediaPacket::Audio(p)) {
                                    return;
                                }
                            }
                        }
                        Err(e) => {
                            tracing::error!("audio encoder failed: {e}");
                            return;
                        }
                    }
                }
            }));
        }
        Pipeline { stop, threads, video_status, audio_status, counters }
    }
}

impl Pipeline {
    /// Asks the sources to stop; the encoders finish what they hold and end.
    pub fn stop_sources(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Stops and waits for every thread (on a blocking thread: capture may be in a device call).
    pub async fn join(self) {
        self.stop_sources();
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

fn spawn_named(name: &str, f: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new().name(name.into()).spawn(f).expect("spawning a thread")
}
