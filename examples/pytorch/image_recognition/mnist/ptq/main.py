"""PyTorch MNIST CNN: tune int8 with lpot, then benchmark (LPOT 1.x API).

    python main.py --tune --output ./int8           # quantize (conf.yaml: data, goal)
    python main.py --benchmark --mode performance   # 2 instances x 1 core, fp32 (and int8 after --tune)
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", ".."))   # examples/, for mnist_cnn

import mnist_cnn  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=os.path.join(HERE, "conf.yaml"))
    ap.add_argument("--tune", action="store_true", help="quantize with accuracy-driven tuning")
    ap.add_argument("--benchmark", action="store_true", help="benchmark the fp32 (and int8) model")
    ap.add_argument("--mode", choices=("performance", "accuracy"), default="performance")
    ap.add_argument("--output", default="./mnist_int8_pytorch")
    args = ap.parse_args()

    from lpot.experimental import Benchmark, Quantization, common

    model, _, _ = mnist_cnn.load_or_train()
    models = {"fp32": model}
    if args.tune:
        quantizer = Quantization(args.config)
        quantizer.model = common.Model(model)
        q_model = quantizer()
        if q_model is None:
            print("no int8 model met the accuracy goal; see the log and the workspace")
            return 1
        q_model.save(args.output)
        print(q_model.report_text())
        print(f"accuracy {q_model.report['accuracy']:.4f} (fp32 {q_model.report['baseline']:.4f}), "
              f"{q_model.report['trials']} trial(s); saved to {args.output}")
        models["int8"] = q_model
    if args.benchmark:
        for name, m in models.items():
            evaluator = Benchmark(args.config)
            evaluator.model = common.Model(m)
            res = evaluator(args.mode)["aggregate"]
            print(f"{name}: p50 {res['latency_p50'] * 1e3:.3f} ms, {res['throughput']:.0f} samples/s"
                  + ("" if res["accuracy"] is None else f", accuracy {res['accuracy']:.4f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
