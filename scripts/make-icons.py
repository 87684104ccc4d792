#!/usr/bin/env python3
"""Draws the app icon (a rounded indigo square with a red "on air" dot and a
white camera body) as RGBA PNGs into icons/, with the standard library only."""
import math, os, struct, zlib

def png(path, size):
    rows = []
    r_corner = size * 0.22
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            cx, cy = x + 0.5, y + 0.5
            # rounded square mask (anti-aliased)
            dx = max(r_corner - cx, 0, cx - (size - r_corner))
            dy = max(r_corner - cy, 0, cy - (size - r_corner))
            d = math.hypot(dx, dy) - r_corner if (dx > 0 and dy > 0) else -1
            a = 1.0 if d <= -1 else max(0.0, min(1.0, -d)) if dx > 0 and dy > 0 else 1.0
            col = (49, 46, 129)  # indigo
            # camera body
            u, v = cx / size, cy / size
            if 0.18 <= u <= 0.62 and 0.32 <= v <= 0.68:
                col = (245, 245, 250)
            elif 0.62 < u <= 0.82 and abs(v - 0.5) <= (u - 0.62) * 0.9 + 0.06:
                col = (245, 245, 250)
            # on-air dot
            if math.hypot(u - 0.76, v - 0.24) <= 0.09:
                col = (239, 68, 68)
            row += bytes(col) + bytes([int(a * 255)])
        rows.append(bytes(row))
    raw = b"".join(rows)
    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "icons")
os.makedirs(out, exist_ok=True)
for name, size in [("32x32.png", 32), ("128x128.png", 128), ("128x128@2x.png", 256), ("icon.png", 512)]:
    png(os.path.join(out, name), size)
