// Two models as a welcome lists them: one version with a display name, and two versions without.
import type { ModelSummary } from '../src/lib/contract';

export const mobilenet: ModelSummary = {
  name: 'mobilenet_v2',
  versions: [1],
  defaultVersion: 1,
  displayName: 'MobileNetV2 (ImageNet)',
  description: 'MobileNetV2 1.0, 224x224, the 1,000 ImageNet classes',
  classes: 1001,
  task: 'classification',
};
export const insects: ModelSummary = {
  name: 'insects',
  versions: [1, 2],
  defaultVersion: 2,
  displayName: '',
  description: '',
  classes: 1022,
  task: 'classification',
};
