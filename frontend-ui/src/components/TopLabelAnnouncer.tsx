import { useEffect, useState } from 'react';

const visuallyHidden: React.CSSProperties = {
  position: 'absolute',
  width: 1,
  height: 1,
  padding: 0,
  margin: -1,
  overflow: 'hidden',
  clip: 'rect(0 0 0 0)',
  whiteSpace: 'nowrap',
  border: 0,
};

/**
 * Tells screen readers the top label, politely, and only when a new label
 * has held for `settleMs` (so a label flickering between two classes, or
 * 20 results a second, does not flood the reader).
 */
export function TopLabelAnnouncer({ label, settleMs = 1_000 }: { label: string | null; settleMs?: number }) {
  const [announced, setAnnounced] = useState<string>('');
  useEffect(() => {
    if (!label || label === announced) return;
    const t = setTimeout(() => setAnnounced(label), settleMs);
    return () => clearTimeout(t);
  }, [label, announced, settleMs]);
  return (
    <div aria-live="polite" aria-atomic="true" data-testid="top-label-announcer" style={visuallyHidden}>
      {announced ? `Now seeing: ${announced}` : ''}
    </div>
  );
}
