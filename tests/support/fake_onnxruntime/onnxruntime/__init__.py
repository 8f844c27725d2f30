"""Stand-in for ONNX Runtime's Vitis AI build, so the tests can run a Vitis AI bundle's
serve_kserve.py on a machine without a DPU. It checks what the real provider needs (the
provider name, an existing config_file, a cache dir), takes FAKE_ORT_COMPILE_SECONDS to
"compile", describes the model's I/O from FAKE_ORT_IO (JSON {"inputs": [[name, type, shape]],
"outputs": [...]}, None for free dims) and fills every output with the sum of the first input,
so a test can check that the right numbers travelled both ways."""
import json
import os
import time

import numpy as np

_NUMPY = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(float16)": np.float16}


class _Arg:
    def __init__(self, name, type_, shape):
        self.name, self.type, self.shape = name, type_, shape


class InferenceSession:
    def __init__(self, path, providers=None, provider_options=None):
        if providers != ["VitisAIExecutionProvider"]:
            raise RuntimeError("expected providers=['VitisAIExecutionProvider'], got %r" % (providers,))
        options = (provider_options or [{}])[0]
        if not os.path.isfile(options.get("config_file", "")):
            raise RuntimeError("config_file %r does not exist" % options.get("config_file"))
        if not options.get("cacheDir") or not options.get("cacheKey"):
            raise RuntimeError("cacheDir and cacheKey are expected")
        if not os.path.isfile(path):
            raise RuntimeError("no model at %s" % path)
        time.sleep(float(os.environ.get("FAKE_ORT_COMPILE_SECONDS", "0")))
        io = json.loads(os.environ["FAKE_ORT_IO"])
        self._inputs = [_Arg(*a) for a in io["inputs"]]
        self._outputs = [_Arg(*a) for a in io["outputs"]]
        log = os.environ.get("FAKE_ORT_LOG")
        if log:
            with open(log, "a") as f:
                f.write(json.dumps({"model": path, "options": options}) + "\n")

    def get_inputs(self):
        return self._inputs

    def get_outputs(self):
        return self._outputs

    def run(self, names, feeds):
        first = feeds[self._inputs[0].name]
        total = float(first.astype(np.float64).sum())
        batch = first.shape[0] if first.ndim else 1
        out = []
        for o in self._outputs:
            shape = [batch if (d is None and i == 0) else (1 if d is None else d) for i, d in enumerate(o.shape)]
            out.append(np.full(shape, total, dtype=_NUMPY.get(o.type, np.float32)))
        return out
