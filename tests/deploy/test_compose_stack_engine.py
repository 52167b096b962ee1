"""`make test` builds the images in the background while pytest runs (compose_stack.py --build-only) and the
full compose run afterwards stops the engine that build started: the hand-over, checked without Docker."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.deploy import compose_stack

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_a_pid_file_names_a_handed_engine_only_while_that_pid_is_a_live_dockerd(tmp_path, monkeypatch):
    pidfile = tmp_path / "engine.pid"
    monkeypatch.setattr(compose_stack, "ENGINE_PID", pidfile)
    assert compose_stack.handed_pid() is None  # no file
    pidfile.write_text("not a pid")
    assert compose_stack.handed_pid() is None
    other = subprocess.Popen(["sleep", "30"])  # a live process that is not dockerd
    try:
        pidfile.write_text(str(other.pid))
        assert compose_stack.handed_pid() is None
    finally:
        other.kill()
        other.wait()


def test_the_full_run_stops_the_engine_a_build_only_run_left_and_forgets_its_pid(tmp_path, monkeypatch):
    fake = tmp_path / "dockerd"  # a process whose name is dockerd
    shutil.copy(shutil.which("sleep") or "/bin/sleep", fake)
    proc = subprocess.Popen([str(fake), "300"])
    reaper = threading.Thread(target=proc.wait, daemon=True)  # as init reaps the orphaned real engine
    reaper.start()
    pidfile = tmp_path / "engine.pid"
    pidfile.write_text(str(proc.pid))
    monkeypatch.setattr(compose_stack, "ENGINE_PID", pidfile)
    monkeypatch.setattr(compose_stack, "engine_answers", lambda: True)
    try:
        assert compose_stack.handed_pid() == proc.pid
        engine = compose_stack.start_engine()
        assert isinstance(engine, compose_stack.HandedEngine) and engine.pid == proc.pid
        # a second --build-only run (background) never adopts it: it only uses the engine that answers
        assert compose_stack.start_engine(background=True) is None
        compose_stack.stop_engine(engine)
        reaper.join(timeout=10)
        assert proc.returncode is not None, "the handed engine is still running"
        assert not pidfile.exists()
    finally:
        if proc.returncode is None:
            proc.kill()


def test_make_test_overlaps_the_image_build_with_pytest_and_runs_both_to_the_end():
    recipe = re.search(r"^test:.*?\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "no test target in the Makefile"
    body = recipe[1]
    build, pytest_at, compose = (body.find(s) for s in ("compose_stack.py --build-only", "-m pytest",
                                                                  "$(MAKE) --no-print-directory compose-test"))
    assert -1 < build < pytest_at < compose, "build in the background first, then pytest, then the compose checks"
    assert re.search(r"--build-only[^;\n]*&", body), "the build must run in the background"
    assert "wait" in body[pytest_at:compose], "pytest's end must wait for the build"
    assert re.search(r"test \$\$pytest = 0 -a \$\$compose = 0", body), "make test fails if either part fails"
