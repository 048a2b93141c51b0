"""Tests of archconform.live: disruptions, the availability recorder, charts (against the fake API server)."""
