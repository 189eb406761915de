// Grabs the centre square of a video frame, scaled to size×size, as a JPEG.

export interface CropRect {
  sx: number;
  sy: number;
  side: number;
}

/** The largest centred square of a w×h picture. */
export function centerSquare(width: number, height: number): CropRect {
  const side = Math.min(width, height);
  return { sx: Math.floor((width - side) / 2), sy: Math.floor((height - side) / 2), side };
}

export function grabFrame(
  video: HTMLVideoElement,
  canvas: HTMLCanvasElement,
  size = 224,
  quality = 0.8,
): Promise<Blob | null> {
  const w = video.videoWidth;
  const h = video.videoHeight;
  if (!w || !h || video.readyState < 2) return Promise.resolve(null);
  if (canvas.width !== size) canvas.width = size;
  if (canvas.height !== size) canvas.height = size;
  const ctx = canvas.getContext('2d', { alpha: false });
  if (!ctx) return Promise.resolve(null);
  const { sx, sy, side } = centerSquare(w, h);
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(video, sx, sy, side, side, 0, 0, size, size);
  return new Promise((resolve) => canvas.toBlob((b) => resolve(b), 'image/jpeg', quality));
}
