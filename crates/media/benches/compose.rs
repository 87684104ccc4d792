//! Per-frame cost of drawing a scene on the canvas (`cargo bench -p mentorcast-media`):
//! at 1080p, the screen (same size: plane copies; HiDPI 2880x1800: scaled) with the
//! camera (720p) in a corner, and the camera alone scaled up. Target: ≤ 2 ms a frame on one core.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mentorcast_media::compose::{compose, Canvas, PipLayout, Scene};
use mentorcast_media::{MediaClock, SyntheticVideo};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("compose_1080p");
    g.throughput(Throughput::Elements(1));
    let clock = MediaClock::start();
    let camera = SyntheticVideo::new(1280, 720, 30, clock).unwrap().render(5);
    let mut canvas = Canvas::new(1920, 1080);
    for (sw, sh) in [(1920u32, 1080u32), (2880, 1800)] {
        let screen = SyntheticVideo::new(sw, sh, 30, clock).unwrap().render(9);
        g.bench_with_input(BenchmarkId::new("pip", format!("screen {sw}x{sh}")), &screen, |b, screen| {
            b.iter(|| compose(&mut canvas, Scene::Pip, PipLayout::default(), Some(&camera), Some(screen)))
        });
    }
    g.bench_function(BenchmarkId::new("camera", "720p scaled up"), |b| {
        b.iter(|| compose(&mut canvas, Scene::Camera, PipLayout::default(), Some(&camera), None))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
