"""One client at a fixed rate, to measure a per-client rate limit (run it with one user).

Every 429 is recorded as the failure "429 Too Many Requests", so the share of limited responses
is ``result.status_ratio(429)``. Knobs (environment): LOAD_CLIENT_RPS (default 4, i.e. 240 a
minute, well beyond a 100-a-minute limit), LOAD_PATH (default "/").
"""

import os

from locust import FastHttpUser, constant_throughput, task

PATH = os.environ.get("LOAD_PATH", "/")


class RateLimitedClient(FastHttpUser):
    wait_time = constant_throughput(float(os.environ.get("LOAD_CLIENT_RPS", "4")))

    @task
    def request(self):
        with self.client.get(PATH, catch_response=True) as response:
            if response.status_code == 429:
                response.failure("429 Too Many Requests")
