"""`VartRunner`: the VCK5000 as a runner (``dfmask predict --backend vart``).

Same interface as `dfmask.deploy.runners` (float32 N×3×S×S images in, ``(seg_logits
N×1×S×S, cls_logit N)`` out), but VART lives in the Vitis AI 3.0 env's Python 3.8, so
the work happens in ``vai/serve_vart.py``, one process started in that env. Kept apart
from `dfmask.deploy.runners` so the pipeline stages, which never score on the card
through it, do not depend on the scorer's code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dfmask.deploy.vai.serve_vart import read_array, write_array
from dfmask.errors import DfmaskError
from dfmask.params import DeployParams

#: The VART scorer run in the Vitis AI env (Python 3.8) by `VartRunner`.
SERVE_VART = Path(__file__).parent / "vai" / "serve_vart.py"


class VartRunner:
    """The VCK5000 through ``vai/serve_vart.py``, one long-lived process in the Vitis AI env.

    VART exists only in the Vitis AI 3.0 docker's Python 3.8 env, so this runner starts
    ``conda run -n <deploy.conda_env> python serve_vart.py --xmodel X`` once and sends it
    image arrays over a pipe in ``.npy`` format (no pickles). Only ``deploy.launcher:
    conda`` (dfmask running inside the docker, on the host with the card) is supported:
    the docker launcher would need the card's devices and the model's folder mounted.
    """

    def __init__(self, xmodel: str | Path, params: DeployParams | None = None, name: str = "vart") -> None:
        import subprocess
        import tempfile

        from dfmask.deploy.vitis import require_environment, vendor_command

        params = params or DeployParams()
        if params.launcher != "conda":
            raise DfmaskError(
                "backend vart: run dfmask inside the Vitis AI 3.0 docker on the host with the VCK5000 "
                f"(deploy.launcher=conda; got {params.launcher}, see docs/predict.md)"
            )
        require_environment(params)
        self.name = name
        self.xmodel = Path(xmodel)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - the scorer's stderr, kept while it runs
        argv = ["python", str(SERVE_VART), "--xmodel", str(self.xmodel.resolve())]
        self._proc = subprocess.Popen(
            vendor_command(params, argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin, self._stdout = self._proc.stdin, self._proc.stdout
        hello = self._receive()
        self.input_size, self.batch = int(hello[0]), int(hello[1])

    def _failure(self) -> DfmaskError:
        import subprocess

        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # alive but out of step with us: stop it
            self._proc.kill()
            self._proc.wait()
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        tail = lines[-1] if lines else f"exit status {self._proc.returncode}"
        return DfmaskError(f"{self.xmodel}: the VART scorer stopped ({tail})")

    def _receive(self) -> np.ndarray:
        try:
            array = read_array(self._stdout)
        except (ValueError, EOFError, OSError) as err:
            raise self._failure() from err
        if array is None:
            raise self._failure()
        return array

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        try:
            write_array(self._stdin, np.ascontiguousarray(images, np.float32))
        except (BrokenPipeError, OSError) as err:
            raise self._failure() from err
        seg = self._receive()
        cls = self._receive()
        return seg, cls.reshape(-1)

    def close(self) -> None:
        """End the scorer (end of input), waiting for it to exit."""
        if self._proc.poll() is None:
            self._stdin.close()
            try:
                self._proc.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a scorer that does not stop is killed
                self._proc.kill()
        self._log.close()

    def __del__(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
