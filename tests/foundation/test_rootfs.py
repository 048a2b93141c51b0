"""archconform.rootfs: a cached Debian root filesystem tar per package list.

Why a fake debootstrap: the real one fetches a few hundred packages from the Debian mirror and
takes a minute; these tests check the caching, the cleaning, the progress and the one-line
errors around it. The real debootstrap runs in the node-image build (tests/kindnode).
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from archconform import rootfs

from . import fakebin

DEBOOTSTRAP = """#!/usr/bin/env bash
echo "$@" >> "$FAKE_DIR/calls"
[ -n "${FAKE_FAIL:-}" ] && { echo "E: Couldn't download packages: $FAKE_FAIL"; exit 1; }
target="${@: -2:1}"
mkdir -p "$target/usr/bin" "$target/usr/share/doc/bash" "$target/var/lib/apt/lists"
echo '#!/bin/sh' > "$target/usr/bin/tool"
echo doc > "$target/usr/share/doc/bash/README"
echo list > "$target/var/lib/apt/lists/x"
echo "I: Base system installed successfully."
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the root filesystem build runs as root")


@pytest.fixture
def fake(tmp_path: Path, monkeypatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "debootstrap").write_text(DEBOOTSTRAP)
    (bin_dir / "debootstrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{fakebin.shadow_path(tmp_path / 'system', 'debootstrap')}")
    monkeypatch.setenv("FAKE_DIR", str(tmp_path))
    monkeypatch.setenv("ARCHCONFORM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(rootfs, "apt_mirror", lambda: "http://deb.debian.org/debian")
    return tmp_path


def test_builds_once_cleans_docs_and_lists_and_keys_by_packages(fake: Path):
    said: list[str] = []
    tar = rootfs.build("base", ["systemd", "iptables"], say=said.append)
    assert tar == rootfs.path_for("base", ["iptables", "systemd"])
    with tarfile.open(tar) as tf:
        names = set(tf.getnames())
    assert "./usr/bin/tool" in names
    assert "./usr/share/doc/bash/README" not in names and "./var/lib/apt/lists/x" not in names
    calls = (fake / "calls").read_text().splitlines()
    assert calls[0].startswith("--variant=minbase --include=systemd,iptables bookworm ")
    assert calls[0].endswith(" http://deb.debian.org/debian")
    assert any(m.startswith("base: built in ") for m in said)
    assert rootfs.build("base", ["systemd", "iptables"], say=said.append) == tar
    assert len((fake / "calls").read_text().splitlines()) == 1, "a second build must be a no-op"
    assert rootfs.path_for("base", ["systemd"]) != tar
    assert [p.name for p in tar.parent.iterdir() if p.name.startswith(".")] == [], "no work folder left"


def test_a_failed_debootstrap_is_one_line_with_its_log(fake: Path, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL", "http://deb.debian.org/debian unreachable")
    with pytest.raises(rootfs.RootfsError) as err:
        rootfs.build("base", ["systemd"], say=lambda m: None)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("base: debootstrap failed (exit 1): E: Couldn't download packages: "
                              "http://deb.debian.org/debian unreachable (log: ")
    assert not rootfs.path_for("base", ["systemd"]).exists()


def test_the_mirror_is_the_one_apt_uses():
    # read from the machine itself: whatever apt uses, never an address of our own choosing
    mirror = rootfs.apt_mirror()
    sources = " ".join(p.read_text() for p in Path("/etc/apt").rglob("*.sources")) + \
        (Path("/etc/apt/sources.list").read_text() if Path("/etc/apt/sources.list").exists() else "")
    assert mirror in sources


def test_a_new_build_replaces_the_older_one_of_the_same_name_only(fake: Path):
    old = rootfs.build("base", ["systemd"], say=lambda _: None)
    other = rootfs.build("other", ["systemd"], say=lambda _: None)
    new = rootfs.build("base", ["systemd", "iptables"], say=lambda _: None)
    assert new.is_file() and other.is_file()
    assert not old.exists() and not old.with_suffix(".log").exists()
