// The fixture the live-page suites share: a real hub and worker (System), a
// fake webcam playing one photo, and Chromium with that camera.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { launchBrowser } from './browser.mjs';
import { makeFakeCamera } from './fakeCamera.mjs';
import { System } from './system.mjs';

/**
 * Starts the system and a browser whose camera shows `photo` (a BMP); `stop()`
 * ends both and removes the camera file. `systemOptions` go to System (e.g. a
 * model repository, the hub's environment).
 */
export async function startLiveSystem(photo, systemOptions = {}) {
  const system = await new System(systemOptions).start();
  const camera = makeFakeCamera(photo);
  try {
    const browser = await launchBrowser({ fakeVideo: camera });
    return {
      system,
      browser,
      async stop() {
        await browser.close().catch(() => undefined);
        await system.stop();
        rmSync(path.dirname(camera), { recursive: true, force: true });
      },
    };
  } catch (err) {
    await system.stop();
    rmSync(path.dirname(camera), { recursive: true, force: true });
    throw err;
  }
}
