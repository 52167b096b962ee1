"""What the flows share: the retry policy for calls to the platform's services."""

from __future__ import annotations

from typing import Any

import httpx


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry when a service is unreachable, slow or failing (5xx); a 4xx answer or a bug in our own code
    will not change on retry."""
    try:
        state.result()
    except httpx.HTTPStatusError as exc:
        return exc.response.status_code >= 500
    except httpx.TransportError:
        return True
    except Exception:  # noqa: BLE001 - anything else is not transient
        return False
    return False


# 3 retries after 2, 10 and 30 s: rides out a service restart, gives up on a real outage
SERVICE_RETRIES: dict[str, Any] = {"retries": 3, "retry_delay_seconds": [2, 10, 30], "retry_condition_fn": transient}
