"""Run a module as `python -m` does, in a process that cannot import a model library.

`python tests/without_model_libs.py MODULE [ARGS...]` installs, before anything else is
imported, a meta-path finder that refuses torch, transformers, verl and vllm (and their
submodules) with ModuleNotFoundError, prints the refusal of `import torch` (so a test
can tell the finder was there), then runs MODULE as `__main__` with ARGS. A flow run
this way proves that every stage that loads a model runs as a job on the cluster, never
in the flow-run process.
"""

from __future__ import annotations

import importlib.abc
import runpy
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

REFUSED = ("torch", "transformers", "verl", "vllm")
# Starts the line that shows the finder refused `import torch` before MODULE ran.
PROOF = "model libraries refused here:"


class RefuseModelLibraries(importlib.abc.MetaPathFinder):
    """Refuses `REFUSED` and their submodules, naming what asked for them not."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname.partition(".")[0] in REFUSED:
            # Also shows an import that some caller swallowed as optional.
            print(f"without_model_libs: refused {fullname}", file=sys.stderr, flush=True)
            raise ModuleNotFoundError(
                f"import of {fullname} refused: this flow-run process must not load a model "
                f"library ({', '.join(REFUSED)}); a stage that needs one runs as a Ray job "
                f"(tests/without_model_libs.py)", name=fullname)
        return None


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(f"usage: {sys.argv[0]} MODULE [ARGS...]")
    sys.meta_path.insert(0, RefuseModelLibraries())
    loaded = sorted(name for name in sys.modules if name.partition(".")[0] in REFUSED)
    if loaded:
        raise SystemExit(f"imported before the finder was installed: {loaded}")
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError as exc:
        print(f"{PROOF} {exc}", flush=True)
    else:
        raise SystemExit("`import torch` succeeded although it is refused")
    sys.argv = list(argv)
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
