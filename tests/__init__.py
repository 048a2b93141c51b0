"""archconform's own tests (a package so that test helpers import as tests.<area>)."""
