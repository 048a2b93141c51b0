"""Load shapes (ramp, hold, stop) for the features. Pick one by class name:
``run_locust("cpu_burn.py", shape="RampHoldStop", env={...}, users=MAX, duration_s=BOUND)``.

Their stages come from environment variables, and archconform.load bounds every shape in users
(the run's ``users``) and time (the run's ``duration_s``) whatever the variables say.
"""

import math
import os
import re

from locust import LoadTestShape


def _seconds(text):
    """``90``, ``90s``, ``2m``, ``1m30s`` -> seconds."""
    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not match or not any(match.groups()):
        raise ValueError(f"not a duration: {text!r} (use 90, 90s, 2m or 1m30s)")
    return float(match.group(1) or 0) * 60 + float(match.group(2) or 0)


class RampHoldStop(LoadTestShape):
    """Ramp to LOAD_USERS (default 10) over LOAD_RAMP_S seconds (default 30), hold them for
    LOAD_HOLD_S seconds (default 60), then stop."""

    def __init__(self):
        super().__init__()
        self.users = int(os.environ.get("LOAD_USERS", "10"))
        self.ramp = _seconds(os.environ.get("LOAD_RAMP_S", "30"))
        self.hold = _seconds(os.environ.get("LOAD_HOLD_S", "60"))

    def tick(self):
        if self.get_run_time() >= self.ramp + self.hold:
            return None
        rate = self.users / self.ramp if self.ramp > 0 else self.users
        return self.users, max(rate, 0.1)


class Stages(LoadTestShape):
    """LOAD_STAGES="DURATION:USERS[:SPAWN_RATE],...", e.g. "30s:5,2m:20:2,1m:0": 5 users for
    30 s, then 20 (added 2 a second) for 2 minutes, then none for a minute (to watch a scale
    down), then stop. The spawn rate defaults to the stage's users (all at once)."""

    def __init__(self):
        super().__init__()
        self.stages = []
        end = 0.0
        for item in os.environ.get("LOAD_STAGES", "30s:5").split(","):
            parts = item.strip().split(":")
            if len(parts) not in (2, 3):
                raise ValueError(f"LOAD_STAGES item {item!r} is not DURATION:USERS[:RATE]")
            end += _seconds(parts[0])
            users = int(parts[1])
            rate = float(parts[2]) if len(parts) == 3 else float(max(users, 1))
            self.stages.append((end, users, rate))

    def tick(self):
        now = self.get_run_time()
        for end, users, rate in self.stages:
            if now < end:
                return users, rate
        return None


class Step(LoadTestShape):
    """Add LOAD_STEP_USERS (default 2) every LOAD_STEP_S seconds (default 30) up to LOAD_USERS
    (default 10), hold the top for LOAD_HOLD_S (default 60), then stop."""

    def __init__(self):
        super().__init__()
        self.step_users = int(os.environ.get("LOAD_STEP_USERS", "2"))
        self.step = _seconds(os.environ.get("LOAD_STEP_S", "30"))
        self.users = int(os.environ.get("LOAD_USERS", "10"))
        self.hold = _seconds(os.environ.get("LOAD_HOLD_S", "60"))

    def tick(self):
        now = self.get_run_time()
        steps = math.ceil(self.users / self.step_users)
        if now >= steps * self.step + self.hold:
            return None
        current = min(self.users, (int(now // self.step) + 1) * self.step_users)
        return current, float(self.step_users)
