import { renderHook, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { useAsync } from "../hooks";

describe("useAsync", () => {
  it("never shows the answer of another selection while the new one loads", async () => {
    const pending: Record<string, (v: string) => void> = {};
    const load = (k: string) => () => new Promise<string>((resolve) => { pending[k] = resolve; });
    const { result, rerender } = renderHook(({ k, on }) => useAsync(load(k), [k], on), { initialProps: { k: "all", on: false } });
    expect(pending.all).toBeUndefined(); // disabled: nothing asked
    rerender({ k: "2019", on: true });
    pending["2019"]("answer for 2019");
    await waitFor(() => expect(result.current.data).toBe("answer for 2019"));
    rerender({ k: "2020", on: true });
    await waitFor(() => expect(result.current.data).toBeUndefined());
    rerender({ k: "2021", on: true });
    pending["2020"]("late answer for 2020"); // the answer of a selection left behind is dropped
    await new Promise((r) => setTimeout(r, 10));
    expect(result.current.data).toBeUndefined();
    pending["2021"]("answer for 2021");
    await waitFor(() => expect(result.current.data).toBe("answer for 2021"));
  });
});
