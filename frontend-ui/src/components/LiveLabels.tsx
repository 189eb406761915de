// The live view's labels: the last result, or its moving average over the
// last results when smoothing is on, and the strip of recent headlines. The
// view is derived while rendering (React's "state from the previous render"),
// so the labels reach the page in the same commit as the result.
import { useEffect, useState } from 'react';
import { shallowEqual, useHubSelector } from '../lib/hubContext';
import type { HubSnapshot } from '../lib/hubStore';
import {
  EMPTY_SMOOTHING,
  pushRecentLabel,
  rankedPredictions,
  smoothPredictions,
  splitLabel,
  type RecentLabel,
  type SmoothingState,
} from '../lib/labels';
import type { Prediction, ResultMessage } from '../lib/contract';
import { answeringModelOf } from '../lib/models';
import { Predictions } from './Predictions';
import { RecentLabels } from './RecentLabels';
import { TopLabelAnnouncer } from './TopLabelAnnouncer';

interface LabelView {
  result: ResultMessage | null;
  smoothing: boolean;
  averaged: SmoothingState;
  shown: Prediction[] | null;
  recent: readonly RecentLabel[];
}

const EMPTY_VIEW: LabelView = { result: null, smoothing: true, averaged: EMPTY_SMOOTHING, shown: null, recent: [] };

function nextView(view: LabelView, result: ResultMessage | null, smoothing: boolean, at: number): LabelView {
  if (!result) return { ...view, result, smoothing };
  // Turning smoothing on starts a fresh average; off shows each result as it comes.
  // Another model's labels are another vocabulary: its first result starts afresh too.
  const sameModel = !view.result || answeringModelOf(view.result) === answeringModelOf(result);
  const base = smoothing && view.smoothing && sameModel ? view.averaged : EMPTY_SMOOTHING;
  const averaged = smoothing ? smoothPredictions(base, result.predictions) : EMPTY_SMOOTHING;
  const shown = smoothing ? rankedPredictions(averaged, Math.max(3, result.predictions.length)) : result.predictions;
  const top = shown[0];
  const recent = top ? pushRecentLabel(view.recent, splitLabel(top.label).name, at) : view.recent;
  return { result, smoothing, averaged, shown, recent };
}

const selectLabels = (s: HubSnapshot) => ({
  result: s.lastResult,
  // Labels from before a lost connection or an error are dimmed.
  outdated: s.connection !== 'connected' || s.lastError !== null,
});

interface Props {
  paused: boolean;
  smoothing: boolean;
  /** Told the predictions on the page whenever they change (for the snapshot). */
  onShown?: (predictions: readonly Prediction[]) => void;
}

export function LiveLabels({ paused, smoothing, onShown }: Props) {
  const { result, outdated } = useHubSelector(selectLabels, shallowEqual);
  const [view, setView] = useState<LabelView>(EMPTY_VIEW);
  let current = view;
  if (view.result !== result || view.smoothing !== smoothing) {
    current = nextView(view, result, smoothing, Date.now());
    setView(current);
  }
  const shown = current.shown;
  useEffect(() => onShown?.(shown ?? []), [onShown, shown]);
  const top = shown?.[0];
  return (
    <>
      <Predictions
        predictions={shown}
        topTestId="top-label"
        emptyText={paused ? 'Paused' : 'Waiting for the first result…'}
        stale={paused || outdated}
      />
      <TopLabelAnnouncer label={paused || !top ? null : splitLabel(top.label).name} />
      <RecentLabels recent={current.recent} />
    </>
  );
}
