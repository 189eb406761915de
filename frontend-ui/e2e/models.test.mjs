// A session switches models mid-stream, in Chromium against the real system:
// the Go hub and one real Python worker serving a model repository with two
// real models, MobileNetV2 (ImageNet) and the iNaturalist insect model, and
// the fake webcam showing the test cat photo. The picker lists both (from the
// welcome), the labels come from each model in turn, the header names the
// model answering, the choice survives a reload of the tab, and a photo
// upload uses the chosen model.
//
// Run: npm run build && node --test e2e/models.test.mjs

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { seriousViolations } from './axe.mjs';
import { waitForPage, waitForText, withStatsProbe } from './browser.mjs';
import { startLiveSystem } from './liveSystem.mjs';
import { sharedTestdata } from './system.mjs';

const images = path.join(sharedTestdata, 'images');
const mobilenetFile = path.join(sharedTestdata, 'models', 'mobilenet_v2_1.0_224_quant.tflite');
const insectFile = path.join(sharedTestdata, 'more-models', 'mobilenet_v2_1.0_224_inat_insect_quant.tflite');
const insectLabels = path.join(sharedTestdata, 'more-models', 'inat_insect_labels.txt');

/** The headline the page shows for an insect label: the common name in parentheses, else the scientific name. */
function insectHeadline(label) {
  const m = /^(.*\S)\s*\(([^()]*)\)$/.exec(label.trim());
  if (!m) return label.trim();
  return m[2].trim() || m[1].trim();
}

/** A model repository: <name>/<version>/<file>, as the worker reads it (MODELS_DIR). */
function makeRepository() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-e2e-models-'));
  for (const [name, file] of [
    ['mobilenet_v2', mobilenetFile],
    ['insects', insectFile],
  ]) {
    mkdirSync(path.join(dir, name, '1'), { recursive: true });
    copyFileSync(file, path.join(dir, name, '1', path.basename(file)));
  }
  return dir;
}

const text = async (page, testId) => ((await page.textContent(`[data-testid="${testId}"]`)) ?? '').trim();

async function pickModel(page, ref) {
  await page.click('[data-testid="model-picker"]');
  await page.click(`[role="option"][data-value="${ref}"]`);
  // The menu closes once the choice is made.
  await page.waitForSelector('[role="listbox"]', { state: 'detached', timeout: 10_000 });
}

describe('models: a session switches between two models mid-stream', { timeout: 600_000 }, () => {
  let fixture;
  let repository;
  let page;
  const insectHeadlines = new Set(readFileSync(insectLabels, 'utf8').split('\n').filter(Boolean).map(insectHeadline));

  before(async () => {
    repository = makeRepository();
    // Without HUB_DEFAULT_MODEL the default would be the first name: insects.
    fixture = await startLiveSystem(path.join(images, 'cat.bmp'), {
      modelsDir: repository,
      hubEnv: { HUB_DEFAULT_MODEL: 'mobilenet_v2' },
    });
    await fixture.system.waitModels(['mobilenet_v2', 'insects']);
  });

  after(async () => {
    await fixture?.stop();
    if (repository) rmSync(repository, { recursive: true, force: true });
  });

  test('the picker lists both models with their class counts; MobileNetV2 answers first', async () => {
    page = await fixture.browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(withStatsProbe(`${fixture.system.baseUrl}/`));
    await waitForText(page, 'top-label', 'Egyptian cat');
    await waitForText(page, 'answering-model', 'mobilenet_v2@1');
    await page.click('[data-testid="model-picker"]');
    const options = await page.$$eval('[role="option"]', (els) =>
      els.map((e) => ({ ref: e.getAttribute('data-value'), text: e.textContent ?? '' })),
    );
    assert.deepEqual(
      options.map((o) => o.ref),
      ['insects', 'mobilenet_v2'],
    );
    assert.match(options[0].text, /1,022 classes/);
    assert.match(options[1].text, /1,000 classes/);
    // axe reads colours as they are painted: while the menu fades in its text is
    // still partly transparent (contrast 4.45 seen), which no one reads.
    await page.waitForFunction(() => {
      const menu = document.querySelector('.MuiMenu-paper');
      return menu !== null && getComputedStyle(menu).opacity === '1';
    });
    assert.deepEqual(await seriousViolations(page), [], 'the open picker passes axe-core');
    await page.keyboard.press('Escape');
    assert.deepEqual(errors, []);
  });

  test('switching to the insect model: its labels (common name headline, scientific beneath), then back', async () => {
    assert.ok(page, 'the first test ran');
    await pickModel(page, 'insects');
    // The header switches with the first result of the new model, and the labels are the insect model's.
    await waitForText(page, 'answering-model', 'insects@1');
    await waitForPage(page, () => document.querySelector('[data-testid="result-model"]')?.textContent?.includes('insects@1'));
    const headline = await text(page, 'top-label');
    assert.ok(insectHeadlines.has(headline), `"${headline}" is an insect model label's headline`);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('webcamhub.model')), 'insects');

    // Back to MobileNetV2: the cat again.
    await pickModel(page, 'mobilenet_v2');
    await waitForText(page, 'answering-model', 'mobilenet_v2@1');
    await waitForText(page, 'top-label', 'Egyptian cat');
  });

  test('the tab keeps its choice across a reload, and an upload goes to the chosen model', async () => {
    await pickModel(page, 'insects');
    await waitForText(page, 'answering-model', 'insects@1');
    await page.reload();
    // A new session starts on the hub's default; the page asks for the tab's model again.
    await waitForText(page, 'answering-model', 'insects@1');
    assert.match(await text(page, 'model-picker'), /^insects/);
    await page.setInputFiles('[data-testid="upload-input"]', path.join(images, 'grace_hopper.bmp'));
    await waitForText(page, 'upload-model', 'Model insects', 30_000);
    const headline = await text(page, 'upload-top-label');
    assert.ok(insectHeadlines.has(headline), `upload: "${headline}" is an insect model label's headline`);
  });
});
