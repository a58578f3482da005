"""Run `train` or `resume` in a separate process (for kill tests): python train_worker.py train CONFIG.yaml DELAY
or python train_worker.py resume RUN_DIR DELAY. DELAY seconds of sleep after each step only slow it down, so
a test can kill it mid-run; they do not change any number the run computes."""
import sys
import time

from transformers import TrainerCallback

from fine_tune_lab.config import TrainConfig
from fine_tune_lab.train import resume, train


class Slow(TrainerCallback):
    def __init__(self, seconds):
        self.seconds = seconds

    def on_step_end(self, args, state, control, **kw):
        time.sleep(self.seconds)


if __name__ == "__main__":
    mode, target, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
    kw = dict(callbacks=[Slow(delay)], progress=False, quiet=True)
    if mode == "train":
        train(TrainConfig.load(target), **kw)
    else:
        resume(target, **kw)
