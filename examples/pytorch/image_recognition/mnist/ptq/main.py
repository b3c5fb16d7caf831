"""PyTorch MNIST CNN: tune int8 with lpot, then benchmark (LPOT 1.x API;
the steps are in examples/mnist_cnn.py:example_main).

    python main.py --tune --output ./mnist_int8_pytorch           # quantize (conf.yaml: data, goal)
    python main.py --benchmark --mode performance   # 2 instances x 1 core, fp32 (and int8 after --tune)
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", ".."))   # examples/, for mnist_cnn

import mnist_cnn  # noqa: E402

if __name__ == "__main__":
    sys.exit(mnist_cnn.example_main(__doc__, use_onnx=False, default_output="./mnist_int8_pytorch"))
