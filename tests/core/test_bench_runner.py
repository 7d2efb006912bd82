"""`make bench` (bench/run_all.py): which arguments each benchmark gets."""

from bench.run_all import BENCHES, arguments


def _bench(name):
    return next(b for b in BENCHES if b.name == name)


def test_x100_runs_the_big_data_benchmarks_on_the_given_database_without_seeding(monkeypatch):
    monkeypatch.delenv("BENCH_ARGS_LOST_ITEMS", raising=False)
    url = "postgres://postgres@127.0.0.1:5432/bench_x100"
    big = [b.name for b in BENCHES if b.big]
    assert big == ["churn sweep", "crm segments", "lost items"]
    assert BENCHES[-1].name == "load"  # the whole product last: make load's report in RESULTS.md too
    for name in big:
        assert arguments(_bench(name), False, url) == ["--no-seed", "--database-url", url]
    assert arguments(_bench("lost items"), False, None) == ["--reuse"]


def test_x100_leaves_the_other_benchmarks_alone_and_env_arguments_still_apply(monkeypatch):
    monkeypatch.setenv("BENCH_ARGS_CATALOG", "--scale 3")
    url = "postgres://postgres@127.0.0.1:5432/bench_x100"
    assert arguments(_bench("catalog"), False, url) == ["--repeat", "3", "--scale", "3"]
    assert arguments(_bench("catalog"), True, url)[:2] == ["--scale", "1"]
