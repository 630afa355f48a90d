"""The served TF.js graph model, run by TensorFlow in Python: the reference the page's numbers must match.

`model.json` holds a TensorFlow GraphDef (as JSON) whose weight nodes are empty `Const`s; the weights are
in the binary shards listed by `weightsManifest`. Putting them back gives the very graph the browser runs,
executed by TensorFlow's own kernels, so no Keras twin of the served model is needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class ReferenceModel:
    """`predict(x)` for a batch of NHWC float32 inputs returns (probabilities, evidence maps)."""

    def __init__(self, model_dir: Path) -> None:
        import tensorflow as tf
        from google.protobuf import json_format

        model = json.loads((model_dir / "model.json").read_text())
        self.metadata = json.loads((model_dir / "metadata.json").read_text())
        graph_def = json_format.ParseDict(model["modelTopology"], tf.compat.v1.GraphDef(), ignore_unknown_fields=True)
        nodes = {node.name: node for node in graph_def.node}
        for group in model["weightsManifest"]:
            if any("quantization" in weight for weight in group["weights"]):
                raise NotImplementedError("quantized weights: dequantize them here first")
            data = b"".join((model_dir / path).read_bytes() for path in group["paths"])
            offset = 0
            for weight in group["weights"]:
                dtype = np.dtype(weight["dtype"])
                count = int(np.prod(weight["shape"], dtype=np.int64))
                value = np.frombuffer(data, dtype, count, offset).reshape(weight["shape"])
                offset += count * dtype.itemsize
                nodes[weight["name"]].attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
        self._graph = tf.Graph()
        with self._graph.as_default():
            tf.graph_util.import_graph_def(graph_def, name="")
        self._session = tf.compat.v1.Session(graph=self._graph)
        outputs = self.metadata["outputs"]
        self._fetches = [outputs["probability"]["node"], outputs["evidence"]["node"]]

    def predict(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probability, evidence = self._session.run(self._fetches, {self.metadata["input"]["name"]: inputs})
        return probability[:, 0], evidence
