import { useCallback, useEffect, useRef, useState } from "react";

/** Load something async when ``deps`` change (and only while ``enabled``). New deps clear the old answer,
 * so a figure of another selection is never shown while the new one loads; ``reload`` keeps it. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[], enabled = true) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const current = useRef(0);
  const key = JSON.stringify(deps);
  const lastKey = useRef(key);
  useEffect(() => {
    const id = ++current.current;
    if (lastKey.current !== key) {
      lastKey.current = key;
      setData(undefined);
    }
    if (!enabled) return;
    setLoading(true);
    setError(undefined);
    load().then(
      (d) => {
        if (id === current.current) {
          setData(d);
          setLoading(false);
        }
      },
      (e) => {
        if (id === current.current) {
          setError(e);
          setLoading(false);
        }
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, tick, enabled]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload, setData };
}
