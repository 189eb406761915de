// Turns a test photo (uncompressed 24-bit BMP) into a Y4M video that
// Chromium plays as a fake webcam (--use-file-for-fake-video-capture).

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Decodes an uncompressed 24- or 32-bit BMP into top-down RGB bytes. */
export function decodeBmp(buf) {
  if (buf.toString('latin1', 0, 2) !== 'BM') throw new Error('not a BMP file');
  const pixelOffset = buf.readUInt32LE(10);
  const width = buf.readInt32LE(18);
  const rawHeight = buf.readInt32LE(22);
  const bpp = buf.readUInt16LE(28);
  const compression = buf.readUInt32LE(30);
  if ((bpp !== 24 && bpp !== 32) || (compression !== 0 && compression !== 3)) {
    throw new Error(`unsupported BMP: ${bpp} bits per pixel, compression ${compression}`);
  }
  const height = Math.abs(rawHeight);
  const bottomUp = rawHeight > 0;
  const bytesPP = bpp / 8;
  const stride = Math.ceil((width * bytesPP) / 4) * 4;
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    const srcRow = pixelOffset + (bottomUp ? height - 1 - y : y) * stride;
    for (let x = 0; x < width; x++) {
      const s = srcRow + x * bytesPP;
      const d = (y * width + x) * 3;
      rgb[d] = buf[s + 2]; // BMP stores B, G, R
      rgb[d + 1] = buf[s + 1];
      rgb[d + 2] = buf[s];
    }
  }
  return { width, height, rgb };
}

const clamp = (v) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/** RGB → I420 (BT.601, limited range), cropping to even dimensions. */
export function rgbToI420({ width, height, rgb }) {
  const w = width & ~1;
  const h = height & ~1;
  const y = Buffer.alloc(w * h);
  const u = Buffer.alloc((w / 2) * (h / 2));
  const v = Buffer.alloc((w / 2) * (h / 2));
  const px = (xx, yy) => {
    const i = (yy * width + xx) * 3;
    return [rgb[i], rgb[i + 1], rgb[i + 2]];
  };
  for (let yy = 0; yy < h; yy++) {
    for (let xx = 0; xx < w; xx++) {
      const [r, g, b] = px(xx, yy);
      y[yy * w + xx] = clamp(16 + 0.257 * r + 0.504 * g + 0.098 * b);
    }
  }
  for (let yy = 0; yy < h; yy += 2) {
    for (let xx = 0; xx < w; xx += 2) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [dx, dy] of [
        [0, 0],
        [1, 0],
        [0, 1],
        [1, 1],
      ]) {
        const [pr, pg, pb] = px(xx + dx, yy + dy);
        r += pr;
        g += pg;
        b += pb;
      }
      r /= 4;
      g /= 4;
      b /= 4;
      const i = (yy / 2) * (w / 2) + xx / 2;
      u[i] = clamp(128 - 0.148 * r - 0.291 * g + 0.439 * b);
      v[i] = clamp(128 + 0.439 * r - 0.368 * g - 0.071 * b);
    }
  }
  return { width: w, height: h, y, u, v };
}

/** A Y4M file of `frames` identical frames (Chromium loops it). */
export function encodeY4m({ width, height, y, u, v }, frames = 4, fps = 15) {
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`, 'latin1');
  const frameHeader = Buffer.from('FRAME\n', 'latin1');
  const parts = [header];
  for (let i = 0; i < frames; i++) parts.push(frameHeader, y, u, v);
  return Buffer.concat(parts);
}

/** Writes <tmpdir>/<name>.y4m from a BMP and returns its path. */
export function makeFakeCamera(bmpPath, dir = mkdtempSync(path.join(os.tmpdir(), 'fe-e2e-cam-'))) {
  const out = path.join(dir, `${path.basename(bmpPath, path.extname(bmpPath))}.y4m`);
  writeFileSync(out, encodeY4m(rgbToI420(decodeBmp(readFileSync(bmpPath)))));
  return out;
}
