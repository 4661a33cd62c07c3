"""Failed-authentication limiter, per client address.

Why it exists: a token carries 256 bits of entropy, so guessing one is hopeless; what a
flood of bad tokens costs is database lookups, log noise and an operator's attention. After
`limit` failures within `window` seconds, an address gets 429 with `Retry-After` (RFC 6585
§4) instead of 401 for every further *failed* attempt, until old failures age out.

Why it never locks anyone out: the limiter only decides how a failure is answered. A request
with a valid token is always served, even from a throttled address, because behind a reverse
proxy or NAT the real identity provider shares its address with whoever is misbehaving, and a
missed deprovisioning is worse than a noisy log.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class FailureLimiter:
    """Sliding-window count of failures per address; memory bounded by `max_addresses`."""

    limit: int = 20
    window: float = 60.0
    max_addresses: int = 10_000
    clock: Callable[[], float] = time.monotonic
    on_throttled: Callable[[], None] | None = None  # told of each failure answered 429
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def failed(self, address: str) -> float | None:
        """Record one failure; the seconds to wait if `address` is now over the limit."""
        now = self.clock()
        times = self._failures.pop(address, None) or deque(maxlen=self.limit)
        while times and now - times[0] >= self.window:
            times.popleft()
        throttled = len(times) >= self.limit
        times.append(now)  # throttled failures count too: a persistent flood stays throttled
        self._failures[address] = times  # most recently failing addresses live longest
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)
        if not throttled:
            return None
        if self.on_throttled is not None:
            self.on_throttled()
        # Once the oldest of the last `limit` failures ages out, a failure is a 401 again.
        return max(0.0, self.window - (now - times[0]))


def retry_after(seconds: float) -> str:
    """An HTTP `Retry-After` delta-seconds value (RFC 9110 §10.2.3): a whole number, ≥ 1."""
    return str(max(1, math.ceil(seconds)))
