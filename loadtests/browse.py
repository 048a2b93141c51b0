"""Ordinary traffic: the workload's root document and its health endpoint (3 to 1).

Knobs (environment): LOAD_WAIT_MIN_S and LOAD_WAIT_MAX_S, the pause of each user between
requests in seconds (default 0.1 to 0.5; 0 and 0 for as fast as the target answers).
"""

import os

from locust import FastHttpUser, between, task


class Browser(FastHttpUser):
    wait_time = between(float(os.environ.get("LOAD_WAIT_MIN_S", "0.1")),
                        float(os.environ.get("LOAD_WAIT_MAX_S", "0.5")))

    @task(3)
    def root(self):
        self.client.get("/")

    @task(1)
    def health(self):
        self.client.get("/health")
