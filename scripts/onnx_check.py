"""Checks an ONNX file convlab exported and runs it in onnxruntime (tests/models/onnx.rs).

    onnx_check.py MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32

`onnx.checker` (full check, with shape inference) must accept the file; onnxruntime's CPU
provider runs the little-endian float32 input of shape N×C×H×W and the logits are written as
little-endian float32. One JSON line on stdout: the graph's input and output names and shapes,
the opset and the metadata.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    model_path, input_path, dims, output_path = sys.argv[1:5]
    shape = [int(d) for d in dims.split(",")]
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    x = np.fromfile(input_path, dtype="<f4").reshape(shape)
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    (logits,) = session.run([out.name], {inp.name: x})
    logits.astype("<f4").tofile(output_path)
    print(json.dumps({
        "input": [inp.name, inp.shape],
        "output": [out.name, out.shape, list(logits.shape)],
        "opset": [o.version for o in model.opset_import],
        "metadata": {p.key: p.value for p in model.metadata_props},
    }))


if __name__ == "__main__":
    main()
