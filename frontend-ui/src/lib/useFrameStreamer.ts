// Sends camera frames at the pace the rate controller sets: a new frame is
// grabbed only when flow control has a slot free and the controller's
// interval has passed, so nothing queues in the browser. Every answer to one
// of this tab's frames goes back to the controller (rateController.ts).

import { useEffect, useRef } from 'react';
import type { HubClient } from './hubClient';
import { grabFrame } from './frameGrabber';
import { createRateController, rateSignal, RateMode } from './rateController';

export interface FrameStreamerOptions {
  client: HubClient | null;
  sendFrame: (data: Blob, capturedAt?: number) => number | null;
  video: HTMLVideoElement | null;
  active: boolean;
  /** adaptive (default) or eager (today's page, for comparison). */
  rateMode?: RateMode;
  size?: number;
  quality?: number;
  /** Pause after a frame error (no worker, too slow, rate limited) before the next frame. */
  errorCooldownMs?: number;
  /** Told the controller's target rate (frames/s) whenever it changes. */
  onRate?: (mode: RateMode, fps: number) => void;
}

export function useFrameStreamer({
  client,
  sendFrame,
  video,
  active,
  rateMode = RateMode.adaptive,
  size = 224,
  quality = 0.8,
  errorCooldownMs = 1_000,
  onRate,
}: FrameStreamerOptions): void {
  const activeRef = useRef(active);
  activeRef.current = active;
  const onRateRef = useRef(onRate);
  onRateRef.current = onRate;

  useEffect(() => {
    if (!client || !video || !active) return;
    const canvas = document.createElement('canvas');
    // A fresh controller per stream: after a pause or a camera switch the worker's load may have changed.
    const rate = createRateController(rateMode);
    let busy = false;
    let lastSend = -Infinity;
    let notBefore = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let stopped = false;
    let toldFps = NaN;

    const tellRate = () => {
      if (rate.fps === toldFps) return;
      toldFps = rate.fps;
      onRateRef.current?.(rate.mode, rate.fps);
    };

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
      const wait = Math.max(lastSend + rate.intervalMs, notBefore) - now;
      if (wait > 0) {
        later(wait);
        return;
      }
      busy = true;
      const capturedAt = performance.now();
      let blob: Blob | null = null;
      try {
        // The video's real size at this instant: a phone turned sideways gives a new one.
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
      void pump(); // fill a second slot at once (eager) or schedule the next frame
    };

    const unsubscribe = client.subscribe((ev) => {
      switch (ev.type) {
        case 'result':
          if (ev.frame) rate.onResult(ev.receivedAt - ev.frame.sentAt);
          break;
        case 'dropped':
          if (ev.frame) rate.onShed();
          break;
        case 'error':
          if (!ev.frame) break;
          notBefore = performance.now() + errorCooldownMs;
          if (rateSignal(ev.message) === 'shed') rate.onShed();
          break;
        case 'welcome':
          break;
        default:
          return;
      }
      tellRate();
      void pump();
    });
    const onPlaying = () => void pump();
    video.addEventListener('playing', onPlaying);
    video.addEventListener('loadeddata', onPlaying);
    // Safety net: a missed event never stalls the stream.
    const safety = setInterval(() => void pump(), 250);
    tellRate();
    void pump();

    return () => {
      stopped = true;
      unsubscribe();
      clearInterval(safety);
      if (timer !== null) clearTimeout(timer);
      video.removeEventListener('playing', onPlaying);
      video.removeEventListener('loadeddata', onPlaying);
    };
  }, [client, sendFrame, video, active, rateMode, size, quality, errorCooldownMs]);
}
