"""The `semspace` command: every subcommand's help, one clear line and exit 1 on bad input, 130 on
Ctrl-C, and the questions it answers on a small built warehouse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import ingest
from semspace import cli
from tests.dbt_helpers import SHARED_CAPTIONS, dbt

SUBCOMMANDS = ["build", "mds", "evaluate", "report", "map", "run", "neighbors", "sql", "export"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("cli")
    records = json.loads(SHARED_CAPTIONS.read_text(encoding="utf-8"))[:15]
    source = work / "coco15.json"
    source.write_text(json.dumps(records), encoding="utf-8")
    db = work / "w.duckdb"
    ingest.load(source, db, name="coco")
    dbt(["build", "--exclude", "resource_type:test", "resource_type:unit_test"], db, work, vars={"neighbors_k": 3})
    return db


def test_help_lists_every_subcommand() -> None:
    exe = Path(sys.executable).with_name("semspace")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    for name in ["ingest", "generate", *SUBCOMMANDS]:
        assert name in out, name


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help_with_db(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([name, "--help"])
    assert exit_.value.code == 0
    assert "--db" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "prog"),
    [(["ingest", "--help"], "semspace ingest"), (["generate", "run", "--help"], "semspace generate run")],
)
def test_the_stages_keep_their_own_parsers(argv: list[str], prog: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(argv)
    assert capsys.readouterr().out.startswith(f"usage: {prog}")


def test_neighbors_prints_captions_and_values(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["neighbors", "1", "--db", str(built), "-k", "3", "--captions", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("image 1 of corpus coco")
    ranks = [line.split() for line in lines if line[:4].strip().isdigit()]
    assert [r[0] for r in ranks] == ["1", "2", "3"]
    assert len(lines) == 2 + 1 + 2 * 3  # the image and its caption, the header, 3 × (row + caption)


@pytest.mark.parametrize("corpus", ["coco", "coco-lemma"])
@pytest.mark.parametrize("measure", ["cosine", "weighted_jaccard", "multiset_symmetric_difference", "dice"])
def test_neighbors_by_another_measure_lists_the_marts_ranking(
    built: Path, corpus: str, measure: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--measure` ranks by that column of image_pairs (the order image_neighbors keeps for the
    measures it ranks by; dice is not one of them and is read from the pairs)."""
    import duckdb

    from semspace.measures import MEASURES

    larger = MEASURES[measure].larger_is_closer
    with duckdb.connect(str(built), read_only=True) as con:
        pairs = con.execute(
            f"select image_j, {measure} from image_pairs where corpus = $c and image_i = 1 "
            f"union all select image_i, {measure} from image_pairs where corpus = $c and image_j = 1",
            {"c": corpus},
        ).fetchall()
    want = sorted(pairs, key=lambda p: ((-p[1] if larger else p[1]), p[0]))[:3]
    assert cli.main(["neighbors", "1", "--db", str(built), "--corpus", corpus, "--measure", measure, "-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"image 1 of corpus {corpus}")
    header = next(line for line in lines if line.lstrip().startswith("rank"))
    assert header.split()[:3] == ["rank", "image", measure]
    ranks = [line.split() for line in lines if line[:4].strip().isdigit()]
    assert [(int(r[1]), float(r[2])) for r in ranks] == [(i, pytest.approx(v, abs=5e-5)) for i, v in want]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["neighbors", "1", "--corpus", "nope"],
            "no corpus 'nope' in the warehouse; corpora: coco, coco-concept, coco-lemma, coco-nostop",
        ),
        (["neighbors", "999"], "image 999 is not in corpus 'coco'"),
        (["neighbors", "1", "--measure", "euclidean"], "unknown measure 'euclidean'"),
        (["mds", "--corpus", "nope"], "no corpus 'nope'"),
        (["sql", "select * from no_such_table"], "the query failed"),
    ],
)
def test_bad_input_is_one_line(built: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*argv, "--db", str(built)]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_a_missing_warehouse_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["build"], ["neighbors", "1"], ["mds"], ["report", "--out", str(tmp_path / "r")]):
        assert cli.main([*argv, "--db", str(tmp_path / "none.duckdb")]) == 1, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "no warehouse here yet" in err, err


def test_an_unbuilt_warehouse_says_build_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "w.duckdb"
    ingest.load(SHARED_CAPTIONS, db, name="coco")
    for argv in (["neighbors", "1"], ["mds"], ["map"], ["evaluate"]):
        assert cli.main([*argv, "--db", str(db)]) == 1, argv
        err = capsys.readouterr().err
        assert "semspace build" in err and len(err.strip().splitlines()) == 1, err


def test_ctrl_c_exits_130(built: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: object, **kwargs: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "neighbors", interrupted)
    assert cli.main(["neighbors", "1", "--db", str(built)]) == 130
    assert "interrupted" in capsys.readouterr().err
    import analysis

    monkeypatch.setattr(analysis, "mds", interrupted)
    assert cli.main(["mds", "--db", str(built)]) == 130


def test_export_writes_the_chosen_marts(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "nested"
    assert cli.main(["export", "--db", str(built), "--out", str(out), "--mart", "corpora", "--format", "csv"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["corpora.csv"]


@pytest.fixture()
def copy_of(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(built.read_bytes())
    return copy


@pytest.mark.parametrize("argv", [["build"], ["mds"], ["evaluate"]])
def test_a_locked_warehouse_is_one_line_before_any_work(
    copy_of: Path, argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_dbt(*args: object, **kwargs: object) -> None:
        raise AssertionError("dbt was started on a locked warehouse")

    monkeypatch.setattr(cli, "dbt", no_dbt)  # found first, not after the work
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(60)",
            str(copy_of),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert cli.main([*argv, "--db", str(copy_of)]) == 1
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert "locked by another process" in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("argv", [["build"], ["mds"], ["evaluate"]])
def test_a_read_only_warehouse_is_one_line(copy_of: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    before = copy_of.read_bytes()
    copy_of.chmod(0o444)
    try:
        assert cli.main([*argv, "--db", str(copy_of)]) == 1
    finally:
        copy_of.chmod(0o644)
    err = capsys.readouterr().err
    assert "read-only" in err and len(err.strip().splitlines()) == 1, err
    assert copy_of.read_bytes() == before


def test_build_passes_option_like_dbt_arguments_in_order(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`semspace build --select x` (the form the help shows) reaches dbt as written, with or
    without `--`; an unknown option of another command is still an error."""
    calls: list[tuple[str | None, list[str]]] = []
    monkeypatch.setattr(
        cli, "build", lambda database, extra=(), quiet=False: calls.append((database, list(extra))) or "Done."
    )
    assert cli.main(["build", "--select", "+image_neighbors", "--vars", "{neighbors_k: 3}"]) == 0
    assert cli.main(["build", "--db", "w.duckdb", "--", "--select", "image_pairs"]) == 0
    assert calls == [
        (None, ["--select", "+image_neighbors", "--vars", "{neighbors_k: 3}"]),
        ("w.duckdb", ["--select", "image_pairs"]),
    ]
    with pytest.raises(SystemExit):
        cli.main(["sql", "select 1", "--select", "x"])
    assert "unrecognized arguments: --select x" in capsys.readouterr().err
