// The models the hub serves, as the page offers them: the picker's choices
// (each model at its latest version, and each version when there are
// several), the tab's remembered choice (sessionStorage: a new tab starts
// from the hub's default), and GET /api/v1/models read into the welcome's
// ModelSummary shape. Pure functions and small I/O helpers; the store keeps
// the state.

import { bearerHeaders } from './apiKey';
import {
  MODEL_REF_PATTERN,
  MODEL_REF_VERSION_SEPARATOR,
  modelRef,
  type ModelSummary,
  type ResultMessage,
} from './contract';

/** The sessionStorage key of the tab's chosen model reference. */
export const MODEL_STORAGE_KEY = 'webcamhub.model';

/** The REST route that lists the models (x-rest `GET /api/v1/models`). */
export const MODELS_PATH = '/api/v1/models';

export type ModelStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

function tabStorage(): ModelStorage | null {
  try {
    return typeof window !== 'undefined' ? window.sessionStorage : null;
  } catch {
    return null; // storage disabled (privacy settings)
  }
}

/** The model reference this tab chose, when it chose a valid one. */
export function loadModelChoice(storage: ModelStorage | null = tabStorage()): string | null {
  const ref = storage?.getItem(MODEL_STORAGE_KEY) ?? null;
  return ref !== null && MODEL_REF_PATTERN.test(ref) ? ref : null;
}

export function saveModelChoice(ref: string, storage: ModelStorage | null = tabStorage()): void {
  storage?.setItem(MODEL_STORAGE_KEY, ref);
}

export function forgetModelChoice(storage: ModelStorage | null = tabStorage()): void {
  storage?.removeItem(MODEL_STORAGE_KEY);
}

/** `name` or `name@version` split; version null for `name` (the latest). */
export function parseModelRef(ref: string): { name: string; version: number | null } {
  const at = ref.indexOf(MODEL_REF_VERSION_SEPARATOR);
  if (at < 0) return { name: ref, version: null };
  return { name: ref.slice(0, at), version: Number(ref.slice(at + 1)) };
}

/** The model that answered a result, `name@version` (just `name` from a hub that sends no version). */
export function answeringModelOf(result: ResultMessage): string | null {
  if (!result.model) return null;
  return typeof result.version === 'number' ? modelRef(result.model, result.version) : result.model;
}

/** Whether `ref` names a model (and version) served now. */
export function isServed(ref: string, models: readonly ModelSummary[]): boolean {
  const { name, version } = parseModelRef(ref);
  const m = models.find((x) => x.name === name);
  return !!m && (version === null || m.versions.includes(version));
}

/**
 * Whether the session's model `current` (`name@version`) is what `ref` asks
 * for: the same version, or for a bare `name` that name at its default version.
 */
export function refSatisfiedBy(ref: string, current: string | null, models: readonly ModelSummary[]): boolean {
  if (!current) return false;
  const want = parseModelRef(ref);
  const have = parseModelRef(current);
  if (want.name !== have.name) return false;
  if (want.version !== null) return want.version === have.version;
  const m = models.find((x) => x.name === want.name);
  return !m || m.defaultVersion === have.version;
}

/** "MobileNetV2 (ImageNet) (mobilenet_v2)", or the name alone when there is no display name. */
export function modelTitle(m: Pick<ModelSummary, 'name' | 'displayName'>): string {
  const display = m.displayName.trim();
  return display && display !== m.name ? `${display} (${m.name})` : m.name;
}

const classCount = new Intl.NumberFormat('en-US');

/** "1,001 classes — MobileNetV2 1.0, 224x224, …" (the description left out when empty). */
export function modelDetails(m: Pick<ModelSummary, 'classes' | 'description'>): string {
  const classes = `${classCount.format(m.classes)} ${m.classes === 1 ? 'class' : 'classes'}`;
  const description = m.description.trim();
  return description ? `${classes} — ${description}` : classes;
}

/** One choice of the picker. */
export interface ModelChoice {
  /** What is sent as options `model`: `name` (latest) or `name@version`. */
  ref: string;
  model: ModelSummary;
  /** null: the latest version (the default). */
  version: number | null;
}

/**
 * The picker's choices, models by name: each model at its latest version and,
 * when it serves more than one, each of its versions.
 */
export function modelChoices(models: readonly ModelSummary[]): ModelChoice[] {
  const out: ModelChoice[] = [];
  for (const model of [...models].sort((a, b) => a.name.localeCompare(b.name))) {
    out.push({ ref: model.name, model, version: null });
    if (model.versions.length > 1) {
      for (const v of [...model.versions].sort((a, b) => a - b)) {
        out.push({ ref: modelRef(model.name, v), model, version: v });
      }
    }
  }
  return out;
}

/**
 * The choice the picker shows: the tab's choice when it is served, else the
 * session's model by name (its latest) or pinned version; '' when none.
 */
export function selectedChoice(
  chosen: string | null,
  session: string | null,
  models: readonly ModelSummary[],
): string {
  const refs = new Set(modelChoices(models).map((c) => c.ref));
  if (chosen && refs.has(chosen)) return chosen;
  if (!session) return '';
  const { name, version } = parseModelRef(session);
  const m = models.find((x) => x.name === name);
  if (!m) return '';
  if (version === null || version === m.defaultVersion) return name;
  const pinned = modelRef(name, version);
  return refs.has(pinned) ? pinned : name;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The ready models of a ModelList (GET /api/v1/models) as ModelSummary; the
 * list also names models no longer served (ready false), which the picker
 * does not offer.
 */
export function summariesFromModelList(body: unknown): ModelSummary[] {
  if (!isObject(body) || !Array.isArray(body.models)) return [];
  const out: ModelSummary[] = [];
  for (const m of body.models) {
    if (!isObject(m) || typeof m.name !== 'string' || m.ready !== true) continue;
    const versions = (Array.isArray(m.versions) ? m.versions : [])
      .map((v) => Number(v))
      .filter((v) => Number.isInteger(v) && v > 0)
      .sort((a, b) => a - b);
    const defaultVersion =
      typeof m.defaultVersion === 'number' ? m.defaultVersion : (versions[versions.length - 1] ?? null);
    if (defaultVersion === null) continue;
    out.push({
      name: m.name,
      versions: versions.length > 0 ? versions : [defaultVersion],
      defaultVersion,
      displayName: typeof m.displayName === 'string' ? m.displayName : '',
      description: typeof m.description === 'string' ? m.description : '',
      classes: typeof m.classes === 'number' ? m.classes : 0,
      task: typeof m.task === 'string' ? m.task : '',
    });
  }
  return out;
}

/** GET /api/v1/models, the served ones as ModelSummary; null when the hub did not answer with a list. */
export async function fetchModels(fetchImpl: typeof fetch = fetch): Promise<ModelSummary[] | null> {
  try {
    const res = await fetchImpl(MODELS_PATH, { headers: { Accept: 'application/json', ...bearerHeaders() } });
    if (!res.ok) return null;
    return summariesFromModelList(await res.json());
  } catch {
    return null;
  }
}
