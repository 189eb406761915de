// The snapshot button: the camera frame as it is sent (not mirrored) with its
// labels drawn under it, downloaded as a PNG.

import { formatPercent, splitLabel } from './labels';
import type { Prediction } from './contract';

/** The text drawn on a snapshot: the headline with its confidence, then the runners-up. */
export function snapshotLines(predictions: readonly Prediction[]): string[] {
  const [top, ...rest] = predictions;
  if (!top) return ['No label yet'];
  const lines = [`${splitLabel(top.label).name} ${formatPercent(top.confidence)}`];
  const others = rest.slice(0, 2).map((p) => `${splitLabel(p.label).name} ${formatPercent(p.confidence)}`);
  if (others.length > 0) lines.push(others.join(' · '));
  return lines;
}

/** lens-hub-2025-01-31T12-05-09.png (local time, no characters a file system dislikes). */
export function snapshotFileName(at: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}-${pad(at.getMinutes())}-${pad(at.getSeconds())}`;
  return `lens-hub-${stamp}.png`;
}

/** Draws the frame and a band of labels under it on `canvas` (resized to fit); false when the video has no frame. */
export function drawSnapshot(canvas: HTMLCanvasElement, video: HTMLVideoElement, lines: readonly string[]): boolean {
  const w = video.videoWidth;
  const h = video.videoHeight;
  const ctx = canvas.getContext('2d');
  if (!w || !h || !ctx) return false;
  const fontPx = Math.max(14, Math.round(w / 28));
  const lineH = Math.round(fontPx * 1.4);
  const band = lineH * lines.length + fontPx;
  canvas.width = w;
  canvas.height = h + band;
  ctx.drawImage(video, 0, 0, w, h);
  ctx.fillStyle = '#0d1424';
  ctx.fillRect(0, h, w, band);
  ctx.textBaseline = 'top';
  lines.forEach((line, i) => {
    ctx.font = `${i === 0 ? 700 : 400} ${i === 0 ? fontPx : Math.round(fontPx * 0.8)}px Roboto, system-ui, sans-serif`;
    ctx.fillStyle = i === 0 ? '#ffffff' : '#c7cfdf';
    ctx.fillText(line, Math.round(fontPx * 0.6), h + Math.round(fontPx / 2) + i * lineH, w - fontPx);
  });
  return true;
}

/** Draws the snapshot and starts its download; false when there was no frame to take. */
export async function downloadSnapshot(video: HTMLVideoElement, predictions: readonly Prediction[], at = new Date()): Promise<boolean> {
  const canvas = document.createElement('canvas');
  if (!drawSnapshot(canvas, video, snapshotLines(predictions))) return false;
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) return false;
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = snapshotFileName(at);
  document.body.append(a);
  a.click();
  a.remove();
  // The download has its own copy once started.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return true;
}
