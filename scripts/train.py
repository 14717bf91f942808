"""Training entry point for `fabric run` (which runs a script path, not `-m`).

From a checkout:

    fabric run --accelerator cpu --devices 2 scripts/train.py generator configs/demo.toml
    fabric run --accelerator cuda --devices 8 --precision bf16-mixed scripts/train.py autoencoder CONFIG

Everything after the script path is `proav train ...`. Under `fabric run` the hardware
comes from fabric's own options; proav does not call `fabric.launch()` (the processes exist).
The process group is destroyed before the interpreter exits: left to the interpreter's
teardown, gloo's threads were at times destroyed while still joinable ("terminate called
without an active exception", SIGABRT after a finished run; 1 in 8-10 two-process CPU runs).
"""

import sys

import torch.distributed as dist

from proav_core.cli import main

if __name__ == "__main__":
    try:
        code = main(["train", *sys.argv[1:]])
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    sys.exit(code)
