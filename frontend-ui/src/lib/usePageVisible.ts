// Whether the tab is visible (document.visibilityState): the page stops
// streaming while it is hidden (a phone's other app, a background tab), since
// nobody sees the labels and the camera may be frozen anyway.

import { useEffect, useState } from 'react';

export function usePageVisible(): boolean {
  const [visible, setVisible] = useState(true);
  useEffect(() => {
    const update = () => setVisible(document.visibilityState !== 'hidden');
    update();
    document.addEventListener('visibilitychange', update);
    return () => document.removeEventListener('visibilitychange', update);
  }, []);
  return visible;
}
