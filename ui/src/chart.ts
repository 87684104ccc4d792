// The bitrate chart: kbps sent (one sample a second) as a line over the bitrate asked
// for (dashed), with the encoder's target (which adaptive bitrate lowers on a slow link)
// as a thin line where it differs.
export function drawChart(canvas: HTMLCanvasElement, samples: number[], targetKbps: number, encoder: number[] = []): void {
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width, hgt = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(hgt * dpr);
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, hgt);
  const style = getComputedStyle(canvas);
  const max = Math.max(targetKbps * 1.3, ...samples, 1);
  const y = (v: number) => hgt - 4 - (v / max) * (hgt - 8);
  ctx.strokeStyle = style.getPropertyValue("--chart-target") || "#888";
  ctx.setLineDash([4, 4]);
  ctx.beginPath();
  ctx.moveTo(0, y(targetKbps));
  ctx.lineTo(w, y(targetKbps));
  ctx.stroke();
  ctx.setLineDash([]);
  const n = 120; // the last two minutes fill the width
  const dx = w / (n - 1);
  const line = (values: number[], color: string, width: number) => {
    const shown = values.slice(-n);
    if (shown.length < 2) return;
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    shown.forEach((v, i) => {
      const x = w - (shown.length - 1 - i) * dx;
      if (i === 0) ctx.moveTo(x, y(v));
      else ctx.lineTo(x, y(v));
    });
    ctx.stroke();
  };
  if (encoder.some((v) => v < targetKbps)) line(encoder, style.getPropertyValue("--chart-encoder") || "#d97706", 1);
  line(samples, style.getPropertyValue("--chart-line") || "#4f46e5", 2);
}
