"""Root conftest: thin. The plugin comes from the pytest11 entry point (archconform.plugin);
every module in steps/ is a step library loaded here, so a new steps/<area>.py needs no edit."""

from pathlib import Path

pytest_plugins = sorted(
    f"steps.{p.stem}" for p in (Path(__file__).parent / "steps").glob("*.py") if not p.name.startswith("_")
)
