import { describe, expect, it } from 'vitest';
import {
  EMPTY_SMOOTHING,
  formatPercent,
  pushRecentLabel,
  rankedPredictions,
  smoothPredictions,
  splitLabel,
  type SmoothingState,
} from './labels';
import type { Prediction } from './contract';

describe('splitLabel', () => {
  it('takes the first synonym as the name and keeps the others', () => {
    expect(splitLabel('ruffed grouse, partridge, Bonasa umbellus')).toEqual({
      name: 'ruffed grouse',
      synonyms: ['partridge', 'Bonasa umbellus'],
    });
    expect(splitLabel('Egyptian cat')).toEqual({ name: 'Egyptian cat', synonyms: [] });
  });

  it('copes with odd spacing, empty parts and repeated names', () => {
    expect(splitLabel(' crane ')).toEqual({ name: 'crane', synonyms: [] });
    expect(splitLabel('great grey owl, great gray owl, , Strix nebulosa, Great Grey Owl')).toEqual({
      name: 'great grey owl',
      synonyms: ['great gray owl', 'Strix nebulosa'],
    });
    expect(splitLabel('')).toEqual({ name: '', synonyms: [] });
    // A comma without a space is part of a name, not a separator.
    expect(splitLabel('a,b')).toEqual({ name: 'a,b', synonyms: [] });
  });
});

const p = (label: string, confidence: number): Prediction => ({ label, confidence });

function fold(results: Prediction[][], n = 5): SmoothingState {
  return results.reduce<SmoothingState>((s, r) => smoothPredictions(s, r, n), EMPTY_SMOOTHING);
}

describe('smoothPredictions', () => {
  it('takes the first result as it is', () => {
    expect(rankedPredictions(fold([[p('cat', 0.6), p('dog', 0.3)]]))).toEqual([p('cat', 0.6), p('dog', 0.3)]);
  });

  it('keeps the headline through one close call the other way', () => {
    const s = fold([
      [p('tabby', 0.5), p('tiger cat', 0.4)],
      [p('tabby', 0.5), p('tiger cat', 0.4)],
      [p('tiger cat', 0.5), p('tabby', 0.45)], // a flicker
    ]);
    expect(rankedPredictions(s)[0]?.label).toBe('tabby');
  });

  it('follows a real change within a few results', () => {
    const results = [[p('tabby', 0.8)], ...Array.from({ length: 4 }, () => [p('goldfish', 0.9)])];
    expect(rankedPredictions(fold(results))[0]?.label).toBe('goldfish');
  });

  it('is the exponential moving average with α = 2/(N+1), absent labels counting as 0', () => {
    const s = fold([[p('a', 0.9), p('b', 0.1)], [p('b', 0.7)]], 3); // α = 0.5
    expect(s.get('a')?.confidence).toBeCloseTo(0.45);
    expect(s.get('b')?.confidence).toBeCloseTo(0.4);
    // N = 1 is no smoothing at all.
    const raw = fold([[p('a', 0.9)], [p('b', 0.7)]], 1);
    expect(rankedPredictions(raw)).toEqual([p('b', 0.7)]);
  });

  it('forgets labels that faded away and keeps the latest index', () => {
    let s = fold([[{ label: 'x', index: 7, confidence: 0.5 }]]);
    s = smoothPredictions(s, [{ label: 'x', index: 8, confidence: 0.5 }]);
    expect(s.get('x')?.index).toBe(8);
    for (let i = 0; i < 40; i++) s = smoothPredictions(s, [p('y', 0.9)]);
    expect(s.has('x')).toBe(false);
  });

  it('ranks at most `limit`, ties by label', () => {
    const s = fold([[p('b', 0.2), p('a', 0.2), p('c', 0.5), p('d', 0.1)]]);
    expect(rankedPredictions(s, 3).map((x) => x.label)).toEqual(['c', 'a', 'b']);
  });
});

describe('pushRecentLabel', () => {
  it('keeps the last distinct headlines, newest first, with their time', () => {
    let list = pushRecentLabel([], 'cat', 1);
    const same = pushRecentLabel(list, 'cat', 2);
    expect(same).toBe(list); // unchanged headline: same list, first time kept
    list = pushRecentLabel(list, 'dog', 3);
    list = pushRecentLabel(list, 'cat', 4);
    expect(list).toEqual([
      { name: 'cat', at: 4 },
      { name: 'dog', at: 3 },
    ]);
  });

  it('holds at most `max`', () => {
    let list = pushRecentLabel([], 'a', 1, 3);
    for (const [i, n] of ['b', 'c', 'd', 'e'].entries()) list = pushRecentLabel(list, n, i + 2, 3);
    expect(list.map((r) => r.name)).toEqual(['e', 'd', 'c']);
  });
});

describe('formatPercent', () => {
  it('rounds like people read percentages', () => {
    expect(formatPercent(0.8516)).toBe('85%');
    expect(formatPercent(0.0742)).toBe('7.4%');
    expect(formatPercent(1.2)).toBe('100%');
    expect(formatPercent(-1)).toBe('0.0%');
  });
});

describe('splitLabel with a scientific name and its common name', () => {
  it('makes the common name in parentheses the headline and keeps the scientific name beneath', () => {
    expect(splitLabel('Halyomorpha halys (Brown Marmorated Stink Bug)')).toEqual({
      name: 'Brown Marmorated Stink Bug',
      synonyms: [],
      scientific: 'Halyomorpha halys',
    });
    expect(splitLabel('Chortophaga viridifasciata viridifasciata (Northern Green-striped Grasshopper)')).toEqual({
      name: 'Northern Green-striped Grasshopper',
      synonyms: [],
      scientific: 'Chortophaga viridifasciata viridifasciata',
    });
  });

  it('keeps the scientific name as the headline when there is no common name', () => {
    expect(splitLabel('Syntomoides imaon ()')).toEqual({ name: 'Syntomoides imaon', synonyms: [] });
    expect(splitLabel('background')).toEqual({ name: 'background', synonyms: [] });
  });

  it('leaves other labels, parenthesised or long, as they are', () => {
    expect(splitLabel('(Common name)')).toEqual({ name: '(Common name)', synonyms: [] });
    expect(splitLabel('a (b) (c)')).toEqual({ name: 'a (b) (c)', synonyms: [] });
    const long = 'dragonfly, darning needle, devil\'s darning needle, sewing needle, snake feeder, snake doctor, mosquito hawk, skeeter hawk';
    const split = splitLabel(long);
    expect(split.name).toBe('dragonfly');
    expect(split.synonyms).toHaveLength(7);
    const huge = 'x'.repeat(500);
    expect(splitLabel(huge)).toEqual({ name: huge, synonyms: [] });
  });
});
