"""MetricLogger's CSV files: every row under the right column, whatever names each record carries."""

from __future__ import annotations

import csv

from persistworld.train.logger import MetricLogger, read_stream


def read_csv(path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_record_with_new_names_widens_the_header_without_shifting_columns(tmp_path):
    logger = MetricLogger(tmp_path, tensorboard=False)
    logger.log("probe", 0, {"reward": 2.0, "best": 2.0, "rolled_back": 0})  # no best step yet
    logger.log("probe", 20, {"reward": 2.1, "best": 2.1, "best_step": 20, "rolled_back": 0})
    logger.log("probe", 40, {"reward": 1.9, "best": 2.1, "best_step": 20, "rolled_back": 1})
    logger.log("probe", 60, {"reward": 2.2})  # fewer names: blanks
    rows = read_csv(tmp_path / "probe.csv")
    assert list(rows[0]) == ["step", "reward", "best", "rolled_back", "best_step"]
    assert [(r["step"], r["best_step"], r["rolled_back"]) for r in rows] == [
        ("0", "", "0"), ("20", "20", "0"), ("40", "20", "1"), ("60", "", ""),
    ]  # fmt: skip
    assert [r["reward"] for r in read_stream(tmp_path, "probe")] == [2.0, 2.1, 1.9, 2.2]


def test_resume_truncation_keeps_the_widened_header(tmp_path):
    logger = MetricLogger(tmp_path, tensorboard=False)
    for step in (1, 2, 3):
        logger.log("train", step, {"loss": 1.0 / step} | ({"extra": step} if step > 1 else {}))
    logger.truncate_after(2)
    rows = read_csv(tmp_path / "train.csv")
    assert [(r["step"], r["extra"]) for r in rows] == [("1", ""), ("2", "2")]
    logger.log("train", 3, {"loss": 0.3, "extra": 3})
    assert [r["step"] for r in read_csv(tmp_path / "train.csv")] == ["1", "2", "3"]


def test_a_csv_with_shifted_rows_from_an_older_version_is_rebuilt_from_the_jsonl(tmp_path):
    """Before the header widened, a record with a new name was written with one value too many.

    Such a file (left by a run that is resumed with this version) must neither stop the run when the
    header widens nor keep its shifted rows.
    """
    logger = MetricLogger(tmp_path, tensorboard=False)
    logger.log("probe", 0, {"reward": 2.0, "rolled_back": 0})
    with (tmp_path / "probe.csv").open("a") as handle:  # the old version's row: best_step's value, no name
        handle.write("20,2.1,20,0\n")
    with (tmp_path / "metrics.jsonl").open("a") as handle:
        handle.write('{"stream": "probe", "step": 20, "reward": 2.1, "best_step": 20, "rolled_back": 0}\n')
    logger.log("probe", 40, {"reward": 1.9, "best_step": 20, "rolled_back": 1})
    rows = read_csv(tmp_path / "probe.csv")
    assert list(rows[0]) == ["step", "reward", "rolled_back", "best_step"]
    assert [(r["step"], r["best_step"], r["rolled_back"]) for r in rows] == [
        ("0", "", "0"),
        ("20", "20", "0"),
        ("40", "20", "1"),
    ]
