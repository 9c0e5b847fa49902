"""Run one fuzz target under atheris (coverage-guided, libFuzzer): ``make fuzz`` runs them all.

    python tests/fuzz/run_atheris.py TARGET [libFuzzer flags, e.g. -runs=1000000]

TARGET is one of ``targets.TARGETS``; the recorded payloads in tests/resources seed it. A target
that raises is a crash: libFuzzer prints the input and writes it to ``crash-<sha1>``; replay it
with ``python tests/fuzz/run_atheris.py TARGET crash-<sha1>``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["monitor", "adapters"]):
    from tests.fuzz import targets


def _seed_files(name: str) -> list[str]:
    files = [str(p) for p in targets.seeds(name)]
    extra = targets.quote_seeds().get(name, [])
    if extra:
        folder = Path(tempfile.mkdtemp(prefix=f"vixmon-seeds-{name}-"))
        for i, data in enumerate(extra):
            (folder / f"seed{i}").write_bytes(data)
            files.append(str(folder / f"seed{i}"))
    return files


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(targets.TARGETS)}}} [libFuzzer flags]")
    name = sys.argv[1]
    target = targets.TARGETS[name]
    argv = [sys.argv[0], *sys.argv[2:]]
    if (seeds := _seed_files(name)) and not any(a.startswith("-seed_inputs") for a in argv):
        argv.append("-seed_inputs=" + ",".join(seeds))
    atheris.Setup(argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
