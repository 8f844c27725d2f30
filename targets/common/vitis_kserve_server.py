#!/usr/bin/env python3
"""KServe v2 / Open Inference Protocol (REST) server for a Vitis AI bundle.

Runs the bundle's QDQ model with ONNX Runtime and the Vitis AI execution provider (VOE): creating
the session partitions the graph, compiles the DPU subgraphs for the board's DPU and caches them;
the rest runs on the board's CPU. Serves the same routes as aifgen's infer-server and Triton, so
probes, client/run_loadgen.sh and field benchmarks work alike on every target:

  GET  /v2/health/live            200 while the process runs
  GET  /v2/health/ready           200 once the model is compiled and loaded, else 503
  GET  /v2, /v2/models/NAME[/versions/1][/ready]
  POST /v2/models/NAME[/versions/1]/infer   JSON tensors, or the binary tensor extension

--compile-only builds the session (compiling into the cache) and exits. Standard library and
numpy only: the board images carry no web framework.
"""
import argparse
import hashlib
import json
import os
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

# KServe v2 datatypes <-> numpy; ONNX Runtime's type strings -> KServe v2.
V2_TO_NUMPY = {
    "BOOL": np.bool_, "UINT8": np.uint8, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
}
ORT_TO_V2 = {
    "tensor(bool)": "BOOL", "tensor(uint8)": "UINT8", "tensor(int8)": "INT8", "tensor(int16)": "INT16",
    "tensor(int32)": "INT32", "tensor(int64)": "INT64", "tensor(float16)": "FP16", "tensor(float)": "FP32",
    "tensor(double)": "FP64",
}
MAX_BODY = int(os.environ.get("MAX_REQUEST_BYTES", str(256 << 20)))


class BadRequest(Exception):
    pass


def v2_shape(shape):
    return [d if isinstance(d, int) and d >= 0 else -1 for d in shape]


class Model:
    def __init__(self, path, name, config_file, cache_dir):
        self.path, self.name = path, name
        self.config_file, self.cache_dir = config_file, cache_dir
        self.session = None
        self.error = None
        self.inputs, self.outputs = [], []

    def load(self):
        import onnxruntime as ort  # the Vitis AI build of ONNX Runtime on the board image

        with open(self.path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        options = {"config_file": self.config_file, "cacheDir": self.cache_dir,
                   "cacheKey": self.name + "-" + digest + "-" + os.environ.get("AIFGEN_DPU", "dpu")}
        session = ort.InferenceSession(self.path, providers=["VitisAIExecutionProvider"], provider_options=[options])
        self.inputs = [{"name": i.name, "datatype": ORT_TO_V2.get(i.type, i.type), "shape": v2_shape(i.shape)}
                       for i in session.get_inputs()]
        self.outputs = [{"name": o.name, "datatype": ORT_TO_V2.get(o.type, o.type), "shape": v2_shape(o.shape)}
                        for o in session.get_outputs()]
        self.session = session

    def metadata(self):
        return {"name": self.name, "versions": ["1"], "platform": "onnxruntime_vitisai",
                "inputs": self.inputs, "outputs": self.outputs}

    def infer(self, body, header_length):
        if header_length is not None and not 0 <= header_length <= len(body):
            raise BadRequest("Inference-Header-Content-Length exceeds the body")
        header = body[:header_length] if header_length is not None else body
        try:
            request = json.loads(header)
        except ValueError as e:
            raise BadRequest("request is not JSON: %s" % e)
        if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
            raise BadRequest("request needs an 'inputs' array")
        offset = header_length if header_length is not None else len(body)
        feeds = {}
        known = {i["name"]: i for i in self.inputs}
        for t in request["inputs"]:
            name, datatype, shape = t.get("name"), t.get("datatype"), t.get("shape")
            if name not in known:
                raise BadRequest("unknown input '%s'" % name)
            if datatype != known[name]["datatype"]:
                raise BadRequest("input '%s' is %s, not %s" % (name, known[name]["datatype"], datatype))
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise BadRequest("input '%s' needs a shape of non-negative integers" % name)
            dtype = V2_TO_NUMPY[datatype]
            count = int(np.prod(shape)) if shape else 1
            size = (t.get("parameters") or {}).get("binary_data_size")
            if size is not None:
                if size != count * np.dtype(dtype).itemsize or offset + size > len(body):
                    raise BadRequest("input '%s': binary_data_size does not match its shape or the body" % name)
                array = np.frombuffer(body, dtype=dtype, count=count, offset=offset).reshape(shape)
                offset += size
            else:
                data = t.get("data")
                if not isinstance(data, list):
                    raise BadRequest("input '%s' has neither data nor binary_data_size" % name)
                array = np.asarray(data, dtype=dtype).reshape(-1)
                if array.size != count:
                    raise BadRequest("input '%s' holds %d values for shape %s" % (name, array.size, shape))
                array = array.reshape(shape)
            feeds[name] = array
        missing = set(known) - set(feeds)
        if missing:
            raise BadRequest("missing inputs: %s" % ", ".join(sorted(missing)))
        results = self.session.run(None, feeds)
        binary_all = bool((request.get("parameters") or {}).get("binary_data_output"))
        wanted = {o.get("name"): o for o in request.get("outputs") or []}
        outputs, tail = [], []
        for meta, value in zip(self.outputs, results):
            if wanted and meta["name"] not in wanted:
                continue
            value = np.ascontiguousarray(value)
            entry = {"name": meta["name"], "datatype": meta["datatype"], "shape": list(value.shape)}
            binary = (wanted.get(meta["name"], {}).get("parameters") or {}).get("binary_data", binary_all)
            if binary:
                raw = value.tobytes()
                entry["parameters"] = {"binary_data_size": len(raw)}
                tail.append(raw)
            else:
                entry["data"] = value.reshape(-1).tolist()
            outputs.append(entry)
        response = {"model_name": self.name, "model_version": "1", "outputs": outputs}
        if "id" in request:
            response["id"] = request["id"]
        text = json.dumps(response).encode()
        return text + b"".join(tail), (len(text) if tail else None)


def make_handler(model):
    prefixes = ["/v2/models/%s" % model.name, "/v2/models/%s/versions/1" % model.name]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # one line per error only; probes would flood the log
            pass

        def reply(self, status, body, content_type="application/json", header_length=None):
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if header_length is not None:
                self.send_header("Inference-Header-Content-Length", str(header_length))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/v2/health/live":
                return self.reply(200, {"live": True})
            if path == "/v2/health/ready":
                return self.reply(200 if model.session else 503, {"ready": model.session is not None})
            if path == "/v2":
                return self.reply(200, {"name": "aifgen-vitis-ai", "version": "1", "extensions": ["binary_tensor_data"]})
            for p in prefixes:
                if path == p + "/ready":
                    return self.reply(200 if model.session else 503, {"name": model.name, "ready": model.session is not None})
                if path == p:
                    if not model.session:
                        return self.reply(503, {"error": "model is still compiling or failed: %s" % (model.error or "compiling")})
                    return self.reply(200, model.metadata())
            self.reply(404, {"error": "no route " + path})

        def do_POST(self):
            path = self.path.split("?", 1)[0].rstrip("/")
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self.close_connection = True
                return self.reply(411, {"error": "Content-Length required"})
            if int(length) > MAX_BODY:
                self.close_connection = True
                return self.reply(413, {"error": "body larger than %d bytes" % MAX_BODY})
            body = self.rfile.read(int(length))
            if path not in [p + "/infer" for p in prefixes]:
                return self.reply(404, {"error": "no route " + path})
            if not model.session:
                return self.reply(503, {"error": "model is not ready"})
            header = self.headers.get("Inference-Header-Content-Length")
            try:
                header_length = int(header) if header is not None else None
                data, response_header = model.infer(body, header_length)
            except (BadRequest, ValueError) as e:
                return self.reply(400, {"error": str(e)})
            except Exception as e:  # the runtime failed: say so, keep serving
                traceback.print_exc()
                return self.reply(500, {"error": "inference failed: %s" % e})
            self.reply(200, data, "application/octet-stream" if response_header is not None else "application/json",
                       response_header)

    return Handler


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--config-file", default=os.environ.get("VAIP_CONFIG", "/etc/vaip_config.json"))
    parser.add_argument("--cache-dir", default=os.environ.get("COMPILE_CACHE", ""))
    parser.add_argument("--compile-only", action="store_true")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.config_file):
        sys.exit("serve_kserve.py: no Vitis AI runtime configuration at %s (install the board's Vitis AI "
                 "runtime package, or set VAIP_CONFIG)" % args.config_file)
    cache_dir = args.cache_dir or os.path.join(os.path.dirname(os.path.abspath(args.model)), "compiled")
    model = Model(args.model, args.name, args.config_file, cache_dir)
    if args.compile_only:
        model.load()
        print("compiled %s into %s" % (args.name, cache_dir))
        return

    def load():
        try:
            model.load()
            print("model %s ready on port %d" % (args.name, args.port), flush=True)
        except Exception as e:  # stays live and unready; the startupProbe then restarts the pod
            model.error = str(e)
            traceback.print_exc()

    server = ThreadingHTTPServer(("0.0.0.0", args.port), make_handler(model))
    server.daemon_threads = True
    threading.Thread(target=load, daemon=True).start()
    print("serving KServe v2 on port %d; compiling %s for the DPU" % (args.port, args.name), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
