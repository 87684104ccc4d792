//! Per-frame cost of converting camera buffers to the encoder's I420:
//! YUYV→I420 and MJPEG→I420 at 720p and 1080p (`cargo bench -p mentorcast-devices`).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mentorcast_devices::convert::{fixtures, CaptureFormat, Converter};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("to_i420");
    for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
        g.throughput(Throughput::Elements(1));
        for (format, src) in [
            (CaptureFormat::Yuyv, fixtures::yuyv(w, h)),
            (CaptureFormat::Nv12, fixtures::nv12(w, h)),
            (CaptureFormat::Mjpeg, fixtures::mjpeg(w, h)),
        ] {
            let mut conv = Converter::new(format, w, h).unwrap();
            let mut out = Vec::new();
            g.bench_with_input(BenchmarkId::new(format.as_str(), format!("{w}x{h}")), &src, |b, src| {
                b.iter(|| conv.convert(std::hint::black_box(src), &mut out).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
