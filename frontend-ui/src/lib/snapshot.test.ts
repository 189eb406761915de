import { describe, expect, it } from 'vitest';
import { snapshotFileName, snapshotLines } from './snapshot';

describe('snapshot', () => {
  it('writes the headline name and the runners-up', () => {
    expect(
      snapshotLines([
        { label: 'ruffed grouse, partridge, Bonasa umbellus', confidence: 0.8516 },
        { label: 'prairie chicken, prairie grouse, prairie fowl', confidence: 0.0742 },
        { label: 'quail', confidence: 0.01 },
        { label: 'hen', confidence: 0.005 },
      ]),
    ).toEqual(['ruffed grouse 85%', 'prairie chicken 7.4% · quail 1.0%']);
    expect(snapshotLines([{ label: 'tabby, tabby cat', confidence: 0.5 }])).toEqual(['tabby 50%']);
    expect(snapshotLines([])).toEqual(['No label yet']);
  });

  it('names the file after the local time', () => {
    expect(snapshotFileName(new Date(2025, 0, 31, 9, 5, 7))).toBe('lens-hub-2025-01-31T09-05-07.png');
  });
});
