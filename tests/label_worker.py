"""Label a synthetic queue as fast as possible (for the kill test): python label_worker.py FOLDER N [ANNOTATOR].
Prints each row id after `submit` has returned (and so after the decision is on disk)."""
import sys

import pandas as pd

from fine_tune_lab.label import LabelSession, queue_frame

if __name__ == "__main__":
    folder, n = sys.argv[1], int(sys.argv[2])
    annotator = sys.argv[3] if len(sys.argv) > 3 else "ann"
    q = queue_frame(pd.DataFrame({"row": range(n), "text": [f"text {i}" for i in range(n)], "label": [None] * n}), "no label")
    s = LabelSession(q, ["a", "b"], folder, annotator)
    while s.current is not None:
        row = s.current["row"]
        s.submit("a" if row % 2 else "b", note="x" * (row % 50))
        print(row, flush=True)
