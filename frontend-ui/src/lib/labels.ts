// Labels people read: the class text split into a name, its synonyms and a
// scientific name (`Genus species (Common name)`, as the insect model's labels are), an
// exponential moving average over the last results so the headline does not
// flicker between close calls, and the list of the last distinct headlines.
// Pure functions: the components keep the state.

import { LABEL_SYNONYM_SEPARATOR, type Prediction } from './contract';

/** A confidence as people read it: "85%", "7.4%". */
export function formatPercent(confidence: number): string {
  const p = Math.max(0, Math.min(1, confidence)) * 100;
  return `${p >= 10 ? p.toFixed(0) : p.toFixed(1)}%`;
}

export interface LabelName {
  /** The common name: "ruffed grouse", "Brown Marmorated Stink Bug". */
  name: string;
  /** The other names: ["partridge", "Bonasa umbellus"]. */
  synonyms: string[];
  /** The scientific name shown beneath the headline: "Halyomorpha halys" (only from `Genus species (Common name)`). */
  scientific?: string;
}

/**
 * `Genus species (Common name)`: the text before the last parenthesis and the
 * common name inside it (which may be empty: "Syntomoides imaon ()").
 */
const SCIENTIFIC_WITH_COMMON = /^([^()]*[^\s()])\s*\(([^()]*)\)\s*$/;

/**
 * The headline and what goes beneath it:
 * "ruffed grouse, partridge, Bonasa umbellus" → ruffed grouse + [partridge, Bonasa umbellus];
 * "Halyomorpha halys (Brown Marmorated Stink Bug)" → Brown Marmorated Stink Bug, scientific Halyomorpha halys;
 * "Syntomoides imaon ()" → Syntomoides imaon (no common name: the scientific one is the headline).
 */
export function splitLabel(label: string): LabelName {
  const scientific = SCIENTIFIC_WITH_COMMON.exec(label.trim());
  if (scientific) {
    const latin = (scientific[1] ?? '').trim();
    const common = (scientific[2] ?? '').trim();
    return common ? { name: common, synonyms: [], scientific: latin } : { name: latin, synonyms: [] };
  }
  const parts = label
    .split(LABEL_SYNONYM_SEPARATOR)
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const name = parts[0] ?? label.trim();
  const seen = new Set([name.toLowerCase()]);
  const synonyms: string[] = [];
  for (const p of parts.slice(1)) {
    if (seen.has(p.toLowerCase())) continue;
    seen.add(p.toLowerCase());
    synonyms.push(p);
  }
  return { name, synonyms };
}

/** Results the moving average spans (its "N"): about a third of a second at 15 results/s. */
export const SMOOTHING_RESULTS = 5;
/** Labels whose averaged confidence fell below this are forgotten. */
const FORGET_BELOW = 0.005;

/** The averaged confidence of each label seen lately (by label text), with its last prediction. */
export type SmoothingState = ReadonlyMap<string, Prediction>;

export const EMPTY_SMOOTHING: SmoothingState = new Map();

/**
 * Folds one result into the average: each label's confidence becomes
 * α·new + (1−α)·old with α = 2/(N+1), a label missing from the result counting
 * as 0. The first result is taken as it is (no average of nothing).
 */
export function smoothPredictions(
  state: SmoothingState,
  predictions: readonly Prediction[],
  results: number = SMOOTHING_RESULTS,
): SmoothingState {
  if (state.size === 0) return new Map(predictions.map((p) => [p.label, { ...p }]));
  const alpha = 2 / (Math.max(1, results) + 1);
  const next = new Map<string, Prediction>();
  const fresh = new Map(predictions.map((p) => [p.label, p]));
  for (const label of new Set([...state.keys(), ...fresh.keys()])) {
    const old = state.get(label)?.confidence ?? 0;
    const now = fresh.get(label);
    const confidence = alpha * (now?.confidence ?? 0) + (1 - alpha) * old;
    if (confidence < FORGET_BELOW) continue;
    next.set(label, { ...(now ?? state.get(label)), label, confidence });
  }
  return next;
}

/** The averaged predictions, most confident first (ties: by label, so the order is stable). */
export function rankedPredictions(state: SmoothingState, limit = 3): Prediction[] {
  return [...state.values()]
    .sort((a, b) => b.confidence - a.confidence || a.label.localeCompare(b.label))
    .slice(0, limit);
}

export interface RecentLabel {
  name: string;
  /** When it became the headline (ms since the epoch). */
  at: number;
}

/** Distinct headlines kept in the strip. */
export const RECENT_LABELS = 6;

/**
 * The strip after `name` is the headline at `at`: newest first, each name
 * once. The same list (by reference) when the headline has not changed.
 */
export function pushRecentLabel(
  list: readonly RecentLabel[],
  name: string,
  at: number,
  max: number = RECENT_LABELS,
): readonly RecentLabel[] {
  if (list[0]?.name === name) return list;
  return [{ name, at }, ...list.filter((r) => r.name !== name)].slice(0, max);
}
