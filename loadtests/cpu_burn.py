"""CPU load: every user asks the workload to burn CPU, at a fixed rate per user.

CPU demand is about users x LOAD_USER_RPS x LOAD_BURN_MS / 1000 cores, which is what drives a
CPU-based HorizontalPodAutoscaler. Knobs (environment): LOAD_BURN_MS (default 200, the workload
caps it at WORKLOAD_BURN_MAX_MS), LOAD_USER_RPS (requests per second per user, default 1).
"""

import os

from locust import FastHttpUser, constant_throughput, task

BURN_MS = int(os.environ.get("LOAD_BURN_MS", "200"))


class CpuBurner(FastHttpUser):
    wait_time = constant_throughput(float(os.environ.get("LOAD_USER_RPS", "1")))

    @task
    def burn(self):
        self.client.get(f"/burn?ms={BURN_MS}", name="/burn")
