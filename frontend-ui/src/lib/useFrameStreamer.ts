// Sends camera frames as fast as flow control allows (capped at maxFps): a
// new frame is grabbed only when a slot is free, so nothing queues in the
// browser and the rate follows what the workers manage.

import { useEffect, useRef } from 'react';
import type { HubClient } from './hubClient';
import { grabFrame } from './frameGrabber';

export interface FrameStreamerOptions {
  client: HubClient | null;
  sendFrame: (data: Blob, capturedAt?: number) => number | null;
  video: HTMLVideoElement | null;
  active: boolean;
  maxFps?: number;
  size?: number;
  quality?: number;
  /** Pause after a frame error (no worker, too slow, rate limited) before the next frame. */
  errorCooldownMs?: number;
}

export function useFrameStreamer({
  client,
  sendFrame,
  video,
  active,
  maxFps = 30,
  size = 224,
  quality = 0.8,
  errorCooldownMs = 1_000,
}: FrameStreamerOptions): void {
  const activeRef = useRef(active);
  activeRef.current = active;

  useEffect(() => {
    if (!client || !video || !active) return;
    const canvas = document.createElement('canvas');
    const minInterval = 1000 / Math.max(1, maxFps);
    let busy = false;
    let lastSend = -Infinity;
    let notBefore = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let stopped = false;

    const later = (ms: number) => {
      if (timer !== null) return;
      timer = setTimeout(() => {
        timer = null;
        void pump();
      }, ms);
    };

    const pump = async (): Promise<void> => {
      if (stopped || busy || !activeRef.current) return;
      if (!client.canSend()) return; // a result, error or drop frees a slot and calls pump again
      const now = performance.now();
      const wait = Math.max(lastSend + minInterval, notBefore) - now;
      if (wait > 0) {
        later(wait);
        return;
      }
      busy = true;
      const capturedAt = performance.now();
      let blob: Blob | null = null;
      try {
        blob = await grabFrame(video, canvas, size, quality);
      } finally {
        busy = false;
      }
      if (stopped || !activeRef.current) return;
      if (!blob) {
        later(100); // the video has no frame yet
        return;
      }
      if (sendFrame(blob, capturedAt) !== null) lastSend = capturedAt;
      void pump(); // fill the second slot at once
    };

    const unsubscribe = client.subscribe((ev) => {
      if (ev.type === 'error' && ev.frame) notBefore = performance.now() + errorCooldownMs;
      if (ev.type === 'result' || ev.type === 'error' || ev.type === 'dropped' || ev.type === 'welcome') void pump();
    });
    const onPlaying = () => void pump();
    video.addEventListener('playing', onPlaying);
    video.addEventListener('loadeddata', onPlaying);
    // Safety net: a missed event never stalls the stream.
    const safety = setInterval(() => void pump(), 250);
    void pump();

    return () => {
      stopped = true;
      unsubscribe();
      clearInterval(safety);
      if (timer !== null) clearTimeout(timer);
      video.removeEventListener('playing', onPlaying);
      video.removeEventListener('loadeddata', onPlaying);
    };
  }, [client, sendFrame, video, active, maxFps, size, quality, errorCooldownMs]);
}
