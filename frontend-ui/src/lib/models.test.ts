import { describe, expect, it, vi } from 'vitest';
import { memoryStorage } from '../../test/memoryStorage';
import { insects, mobilenet } from '../../test/modelFixtures';
import {
  MODEL_STORAGE_KEY,
  answeringModelOf,
  fetchModels,
  isServed,
  loadModelChoice,
  modelChoices,
  modelDetails,
  modelTitle,
  refSatisfiedBy,
  saveModelChoice,
  selectedChoice,
  summariesFromModelList,
} from './models';

describe('models', () => {
  it('lists each model at its latest version, and each version where it serves several', () => {
    expect(modelChoices([mobilenet, insects]).map((c) => c.ref)).toEqual([
      'insects',
      'insects@1',
      'insects@2',
      'mobilenet_v2',
    ]);
    expect(modelTitle(mobilenet)).toBe('MobileNetV2 (ImageNet) (mobilenet_v2)');
    expect(modelTitle(insects)).toBe('insects');
    expect(modelDetails(mobilenet)).toBe('1,001 classes — MobileNetV2 1.0, 224x224, the 1,000 ImageNet classes');
    expect(modelDetails(insects)).toBe('1,022 classes');
  });

  it('shows the tab’s choice when served, else the session’s model', () => {
    const models = [mobilenet, insects];
    expect(selectedChoice('insects@1', 'mobilenet_v2@1', models)).toBe('insects@1');
    expect(selectedChoice(null, 'insects@2', models)).toBe('insects');
    expect(selectedChoice(null, 'insects@1', models)).toBe('insects@1');
    expect(selectedChoice('gone', 'mobilenet_v2@1', models)).toBe('mobilenet_v2');
    expect(selectedChoice(null, null, models)).toBe('');
    expect(selectedChoice(null, 'mobilenet_v2@1', [])).toBe('');
  });

  it('tells whether the session’s model is what a reference asks for', () => {
    const models = [mobilenet, insects];
    expect(refSatisfiedBy('insects', 'insects@2', models)).toBe(true);
    expect(refSatisfiedBy('insects', 'insects@1', models)).toBe(false);
    expect(refSatisfiedBy('insects@1', 'insects@1', models)).toBe(true);
    expect(refSatisfiedBy('insects', 'mobilenet_v2@1', models)).toBe(false);
    expect(refSatisfiedBy('insects', null, models)).toBe(false);
    expect(isServed('insects@2', models)).toBe(true);
    expect(isServed('insects@3', models)).toBe(false);
    expect(isServed('beetles', models)).toBe(false);
  });

  it('names the model that answered a result', () => {
    const base = { type: 'result' as const, seq: 1, predictions: [] };
    expect(answeringModelOf({ ...base, model: 'insects', version: 2 })).toBe('insects@2');
    expect(answeringModelOf({ ...base, model: 'mobilenet_v2' })).toBe('mobilenet_v2');
    expect(answeringModelOf(base)).toBeNull();
  });

  it('keeps the tab’s choice in its storage, and ignores what is not a model reference', () => {
    const storage = memoryStorage();
    expect(loadModelChoice(storage)).toBeNull();
    saveModelChoice('insects@1', storage);
    expect(storage.map.get(MODEL_STORAGE_KEY)).toBe('insects@1');
    expect(loadModelChoice(storage)).toBe('insects@1');
    storage.setItem(MODEL_STORAGE_KEY, 'not a model!');
    expect(loadModelChoice(storage)).toBeNull();
  });

  it('reads GET /api/v1/models into the served models', async () => {
    const list = {
      models: [
        {
          name: 'mobilenet_v2',
          versions: ['1'],
          platform: 'tflite',
          inputs: [],
          outputs: [],
          displayName: 'MobileNetV2 (ImageNet)',
          description: 'MobileNetV2 1.0, 224x224, the 1,000 ImageNet classes',
          classes: 1001,
          labelsSource: 'metadata',
          task: 'classification',
          defaultVersion: 1,
          ready: true,
          errors: {},
        },
        { name: 'old', versions: ['1'], displayName: '', description: '', classes: 10, task: 'classification', ready: false, errors: {} },
      ],
    };
    expect(summariesFromModelList(list)).toEqual([mobilenet]);
    expect(summariesFromModelList({ nope: 1 })).toEqual([]);
    const fetchMock = vi.fn(async () => new Response(JSON.stringify(list), { status: 200 }));
    expect(await fetchModels(fetchMock)).toEqual([mobilenet]);
    expect((fetchMock.mock.calls[0] as unknown as [string])[0]).toBe('/api/v1/models');
    expect(await fetchModels(async () => new Response('{}', { status: 503 }))).toBeNull();
    expect(
      await fetchModels(async () => {
        throw new TypeError('failed to fetch');
      }),
    ).toBeNull();
  });
});
