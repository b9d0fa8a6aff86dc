"""harness.reports.tables on fabricated records: hand-computed cells, reproducibility, marks, dedup, outputs."""
from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

import fake_records as fake
from harness.reports import loading, plots, stats, tables
from harness.errors import HarnessError
from harness.reports.published import PUBLISHED


def _build_suite(tmp_path: Path):
    records, results = tmp_path / "records", tmp_path / "results"
    fake.write_suite(records)
    paths = tables.build_tables(records, results)
    return records, results, paths


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One build of the fake suite shared by the tests that only read it (~2.5 s a build on 2 cores)."""
    return _build_suite(tmp_path_factory.mktemp("built"))


@pytest.fixture()
def built_fresh(tmp_path):
    """A build of its own, for a test that deletes and rebuilds the outputs."""
    return _build_suite(tmp_path)


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def md_row(path: Path, first: str) -> list[str]:
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in {path}")


def hm(b, n):
    return 2 * b * n / (b + n)


# --------------------------------------------------------------------------------------------- numbers


def test_base2novel_cells_by_hand(built):
    _, results, _ = built
    rows = {(r["method"], r["metric"]): r for r in read_csv(results / "base2novel.csv")}
    b, n = (70 + 72 + 74) / 300, (50 / 80 + 52 / 80 + 60 / 80) / 3  # ezclip: seed-averaged B and N
    assert float(rows[("ezclip", "B")]["value_pct"]) == pytest.approx(100 * b, abs=1e-3)
    assert float(rows[("ezclip", "N")]["value_pct"]) == pytest.approx(67.5, abs=1e-3)
    assert float(rows[("ezclip", "HM")]["value_pct"]) == pytest.approx(100 * hm(b, n), abs=1e-3)  # 69.677
    vb, vn = (69 + 73 + 72) / 300, (49 + 50 + 58) / 240
    assert float(rows[("vificlip", "HM")]["value_pct"]) == pytest.approx(100 * hm(vb, vn), abs=1e-3)
    row = md_row(results / "base2novel.md", "ezclip")
    assert row[1].startswith("72.0 [") and row[2].startswith("67.5 [") and row[3].startswith("69.7 [")
    low, high = float(rows[("ezclip", "HM")]["ci_low_pct"]), float(rows[("ezclip", "HM")]["ci_high_pct"])
    assert low < 69.677 < high
    seeds = {(r["method"], r["seed"]): r for r in read_csv(results / "base2novel_seeds.csv")}
    assert float(seeds[("ezclip", "3")]["hm_pct"]) == pytest.approx(100 * hm(0.74, 0.75), abs=1e-3)


def test_zero_shot_mean_std_by_hand(built):
    _, results, _ = built
    assert md_row(results / "zero_shot.md", "ezclip")[2] == "60.0 ± 10.0"  # 50, 60, 70 %
    vals = np.array([48.0, 62.0, 66.0])
    expected = f"{vals.mean():.1f} ± {vals.std(ddof=1):.1f}"
    assert expected == "58.7 ± 9.5"
    assert md_row(results / "zero_shot.md", "vificlip")[2] == expected
    splits = {(r["method"], r["split"]): r for r in read_csv(results / "zero_shot_splits.csv")}
    assert float(splits[("clip", "test3")]["top1_pct"]) == pytest.approx(28.0)
    est, low, high = stats.bootstrap_ci(fake.zs_correct("clip", "test3"))
    assert float(splits[("clip", "test3")]["ci_low_pct"]) == pytest.approx(100 * low, abs=1e-3)


def test_few_shot_cells_by_hand(built):
    _, results, _ = built
    rows = {(r["method"], r["shots"]): r for r in read_csv(results / "few_shot.csv")}
    assert float(rows[("ezclip", "2")]["top1_pct"]) == pytest.approx(100 * (30 + 33) / 120, abs=1e-3)
    assert float(rows[("vificlip", "4")]["top1_pct"]) == pytest.approx(100 * (41 + 40) / 120, abs=1e-3)
    assert rows[("ezclip", "2")]["seeds"] == "1, 2"
    header = md_row(results / "few_shot.md", "method")
    assert header == ["method", "toy K=2", "toy K=4"]


def test_efficiency_and_provenance(built):
    _, results, _ = built
    row = md_row(results / "efficiency.md", "ezclip")
    assert row[4:8] == ["1,000,000", "50,000", "1.50 × 1 = 1.50", "0.25"]
    assert row[8:12] == ["10.0", "0.500", "100", "[1]"] and row[12] == "test-cpu"
    assert "[1] fake: bytes the training allocated" in (results / "efficiency.md").read_text(encoding="utf-8")
    assert md_row(results / "efficiency.md", "clip")[9:11] == ["—", "—"]  # no training
    prov = md_row(results / "base2novel_provenance.md", "vificlip")
    assert prov[2:8] == ["toy-vit", "16", "32", "1×1", "names: {}", "1, 2, 3"]
    assert prov[10] == "abcdef1"


# --------------------------------------------------------------------------------------------- significance


def test_base2novel_marks_and_holm_match_direct_computation(built):
    _, results, _ = built
    expected = []
    for m in ("clip", "vificlip"):  # tables order: reference first, then alphabetical
        mine = [fake.b2n_correct(m, s) for s in (1, 2, 3)]
        ref = [fake.b2n_correct("ezclip", s) for s in (1, 2, 3)]
        for idx, col in ((0, "B"), (1, "N")):
            mc = stats.mcnemar_exact(np.concatenate([x[idx] for x in mine]), np.concatenate([x[idx] for x in ref]))
            expected.append((m, col, mc["p"]))
        r = stats.paired_bootstrap_hm([x[0] for x in mine], [x[1] for x in mine], [x[0] for x in ref],
                                      [x[1] for x in ref], same_videos=True)
        expected.append((m, "HM", r["p"]))
    adjusted = stats.holm([p for *_, p in expected])
    tests = {(r["method"], r["metric"]): r for r in read_csv(results / "base2novel_tests.csv")}
    head = {(r["method"], r["metric"]): r for r in read_csv(results / "base2novel.csv")}
    assert len(tests) == 6
    for (m, col, p), adj in zip(expected, adjusted):
        assert float(tests[(m, col)]["p_primary"]) == pytest.approx(p, rel=1e-5)
        assert float(tests[(m, col)]["p_holm"]) == pytest.approx(adj, rel=1e-5, abs=1e-12)
        assert head[(m, col)]["significant_vs_reference"] == str(adj < 0.05).lower()
    assert head[("clip", "HM")]["significant_vs_reference"] == "true"
    assert head[("vificlip", "B")]["significant_vs_reference"] == "false"
    assert md_row(results / "base2novel.md", "clip")[1].endswith("†")
    assert not md_row(results / "base2novel.md", "vificlip")[1].endswith("†")
    text = (results / "base2novel.md").read_text(encoding="utf-8")
    assert "Holm over the 6 comparisons" in text and "10,000" in text and "0.25" in text
    assert "differs from the reference `ezclip` (Holm-adjusted p < 0.05), either direction" in text
    tests_md = results / "base2novel_tests.md"
    assert "either direction" in tests_md.read_text(encoding="utf-8")
    for (m, col), row in tests.items():  # the tests table says which direction each mark goes
        cells = next(c for c in (line.strip().strip("|").split("|") for line in
                                 tests_md.read_text(encoding="utf-8").splitlines())
                     if [x.strip() for x in c[:3]] == [m, "toy", col])
        expected = "" if row["significant"] == "false" else \
            ("† higher" if float(row["delta_pct"]) > 0 else "† lower")
        assert cells[9].strip() == expected
    assert tests[("clip", "HM")]["significant"] == "true" and float(tests[("clip", "HM")]["delta_pct"]) < 0


def test_zero_shot_marks_match_pooled_mcnemar(built):
    _, results, _ = built
    ps = {}
    for m in ("clip", "vificlip"):
        a = np.concatenate([fake.zs_correct(m, s) for s in ("test1", "test2", "test3")])
        b = np.concatenate([fake.zs_correct("ezclip", s) for s in ("test1", "test2", "test3")])
        ps[m] = stats.mcnemar_exact(a, b)
    adj = dict(zip(ps, stats.holm([v["p"] for v in ps.values()])))
    tests = {r["method"]: r for r in read_csv(results / "zero_shot_tests.csv")}
    for m, mc in ps.items():
        assert int(tests[m]["mcnemar_n01"]) == mc["n01"] and int(tests[m]["mcnemar_n10"]) == mc["n10"]
        assert float(tests[m]["p_holm"]) == pytest.approx(adj[m], rel=1e-5)
        boot = stats.paired_bootstrap_grouped([fake.zs_correct(m, s) for s in ("test1", "test2", "test3")],
                                              [fake.zs_correct("ezclip", s) for s in ("test1", "test2", "test3")])
        assert float(tests[m]["delta_pct"]) == pytest.approx(100 * boot["diff"], abs=1e-3)
        assert float(tests[m]["p_bootstrap"]) == pytest.approx(boot["p"], rel=1e-5, abs=1e-12)
    assert md_row(results / "zero_shot.md", "clip")[2].endswith("†")


def test_reference_option_moves_the_marks(tmp_path):
    records = tmp_path / "records"
    fake.write_suite(records)
    tables.build_tables(records, tmp_path / "res", reference="clip")
    tests = read_csv(tmp_path / "res" / "base2novel_tests.csv")
    assert {r["method"] for r in tests} == {"ezclip", "vificlip"} and all(r["reference"] == "clip" for r in tests)
    assert md_row(tmp_path / "res" / "base2novel.md", "ezclip")[3].endswith("†")


# --------------------------------------------------------------------------------------------- reproducibility


def _snapshot(results: Path) -> dict:
    return {p.relative_to(results).as_posix(): p.read_bytes() for p in sorted(results.rglob("*"))
            if p.is_file() and p.suffix != ".png"}


def test_rebuild_is_byte_identical(built_fresh):
    records, results, paths = built_fresh
    first = _snapshot(results)
    assert len(first) == 3 * 15 + 2  # 15 tables (backbones included) × (md, csv, tex) + README + index.html
    shutil.rmtree(results)
    again = tables.build_tables(records, results)
    assert _snapshot(results) == first
    assert again == paths
    tables.build_tables(records, results)  # over an existing folder
    assert _snapshot(results) == first


def test_plots_are_written(built):
    _, results, _ = built
    pngs = sorted(p.name for p in (results / "plots").glob("*.png"))
    assert pngs == ["backbones.png"] + [f"{p}_{s}.png" for p in ("base2novel", "few_shot", "zero_shot")
                                        for s in ("vs_gmacs", "vs_trainable_params")]
    assert all((results / "plots" / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in pngs)


def test_stale_outputs_are_removed(tmp_path):
    records, results = tmp_path / "records", tmp_path / "results"
    fake.write_suite(records)
    tables.build_tables(records, results)
    (results / "my_notes.txt").write_text("keep me")
    shutil.rmtree(records / "few_shot")
    tables.build_tables(records, results)
    assert not (results / "few_shot.md").exists() and not (results / "plots" / "few_shot_vs_gmacs.png").exists()
    assert "few_shot" not in (results / "README.md").read_text(encoding="utf-8")
    assert (results / "my_notes.txt").exists()


# --------------------------------------------------------------------------------------------- records


def test_newest_duplicate_wins_with_footnote(tmp_path):
    records, results = tmp_path / "records", tmp_path / "results"
    fake.write_suite(records)
    base, novel = fake.correct_pattern(100, 100), fake.correct_pattern(80, 80)
    evals = [fake.evaluation("base", "toy", "base_val", base, "b2n/base"),
             fake.evaluation("novel", "toy", "novel_val", novel, "b2n/novel")]
    older = fake.record("ezclip", "base2novel", "toy", {"seed": 1, "shots": 16}, evals,
                        created="2026-11-01T00:00:00Z", run_id="ezclip-old-run")
    fake.write(records, older)
    tables.build_tables(records, results)
    rows = {(r["method"], r["metric"]): r for r in read_csv(results / "base2novel.csv")}
    assert float(rows[("ezclip", "B")]["value_pct"]) == pytest.approx(72.0)  # the older record lost
    text = (results / "base2novel.md").read_text(encoding="utf-8")
    assert "ezclip-old-run" in text and "Superseded" in text
    newer = dict(older, created_utc="2026-12-24T00:00:00Z", run_id="ezclip-new-run")
    fake.write(records, newer)
    tables.build_tables(records, results)
    rows = {(r["method"], r["metric"]): r for r in read_csv(results / "base2novel.csv")}
    assert float(rows[("ezclip", "B")]["value_pct"]) == pytest.approx((100 + 72 + 74) / 3)
    assert "ezclip-new-run" in (results / "base2novel.md").read_text(encoding="utf-8")
    assert "2 superseded" in (results / "README.md").read_text(encoding="utf-8")


def test_non_record_json_is_skipped_with_a_count(tmp_path, caplog):
    records, results = tmp_path / "records", tmp_path / "results"
    fake.write_suite(records)
    (records / "sweep_manifest.json").write_text(json.dumps({"jobs": 3}))
    (records / "list.json").write_text("[1, 2]")
    with caplog.at_level(logging.WARNING, logger="harness.reports.tables"):
        tables.build_tables(records, results)
    assert "skipped 2 JSON file(s)" in caplog.text and "sweep_manifest.json" in caplog.text
    assert "2 JSON file(s) that are not records skipped" in (results / "README.md").read_text(encoding="utf-8")


def test_malformed_json_names_the_file(tmp_path):
    records = tmp_path / "records"
    fake.write_suite(records)
    bad = records / "base2novel" / "ezclip" / "toy" / "broken.json"
    bad.write_text('{"schema_version": 1,')
    with pytest.raises(HarnessError, match="broken.json"):
        tables.build_tables(records, tmp_path / "results")


def test_missing_records_dir_is_a_harness_error(tmp_path):
    with pytest.raises(HarnessError, match="does not exist"):
        tables.build_tables(tmp_path / "nope", tmp_path / "results")


def test_record_without_predictions_has_no_ci(tmp_path):
    records, results = tmp_path / "records", tmp_path / "results"
    ev = fake.evaluation("test", "toy", "test", fake.correct_pattern(60, 45), "fs/test")
    ev["predictions"] = []
    fake.write(records, fake.record("ezclip", "few_shot", "toy", {"seed": 1, "shots": 2}, [ev]))
    tables.build_tables(records, results)
    assert md_row(results / "few_shot.md", "ezclip")[1] == "75.0"


def test_sweep_command_is_copied_verbatim(tmp_path):
    records, results = tmp_path / "records", tmp_path / "results"
    fake.write_suite(records, methods=("ezclip",))
    command = "python -m harness sweep --methods ezclip,clip \\\n  --protocols base2novel --seeds 1 2 3"
    (records / "SWEEP_COMMAND").write_text(command + "\n")
    tables.build_tables(records, results)
    readme = (results / "README.md").read_text(encoding="utf-8")
    assert command in readme and "python -m harness tables" in readme


# --------------------------------------------------------------------------------------------- published


def test_published_table_is_separate_and_verbatim(built):
    _, results, _ = built
    text = (results / "published.md").read_text(encoding="utf-8")
    assert "published, not measured here" in text
    rows = read_csv(results / "published.csv")
    assert len(rows) == len(PUBLISHED)
    sources = {r["source"] for r in rows}
    assert "`Shahzadnit/EZ-CLIP:README.md` (no ±std)" in sources
    assert "ViFi README (means); ±std from the FROSTER README" in sources
    ez = next(r for r in rows if (r["protocol"], r["method"], r["dataset"]) == ("base2novel", "ezclip", "k400"))
    assert (ez["base"], ez["novel"], ez["hm"], ez["frames"], ez["size"]) == ("73.1", "60.6", "66.3", "8", "224")
    measured = "".join((results / f"{s}.md").read_text(encoding="utf-8")
                       for s in ("base2novel", "zero_shot", "few_shot", "efficiency"))
    assert "FROSTER" not in measured and "README" not in measured


def test_published_b2n_hm_consistent_with_b_and_n():
    """The doc's HM values agree with 2BN/(B+N) of its B and N (catches transcription slips)."""
    for row in PUBLISHED:
        if row["protocol"] == "base2novel":
            v = row["values"]
            assert hm(v["base"], v["novel"]) == pytest.approx(v["hm"], abs=0.11), row


# --------------------------------------------------------------------------------------------- CLI


def test_cli_subcommand(tmp_path, capsys):
    records = tmp_path / "records"
    fake.write_suite(records, methods=("ezclip", "clip"))
    parser = argparse.ArgumentParser(prog="harness")
    tables.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["tables", "--records", str(records), "--results", str(tmp_path / "out"),
                              "--reference", "clip"])
    assert args.func(args) == 0
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / "out" / "base2novel.md").exists()


# --------------------------------------------------------------------------------------------- plots


def _plot_points(records: Path, protocol: str) -> list[dict]:
    from harness.reports.base2novel import build_base2novel
    from harness.reports.few_shot import build_few_shot
    from harness.reports.zero_shot import build_zero_shot

    raw, _ = loading.load_records(records)
    recs = [r for r in raw if loading.protocol_name(r) == protocol]
    builder = {"base2novel": build_base2novel, "zero_shot": build_zero_shot, "few_shot": build_few_shot}[protocol]
    return plots.plot_points(builder(recs, "ezclip", [])[1], recs)


def test_plot_points_carry_hand_checked_values_and_cis(built):
    records = built[0]
    zs = {p["method"]: p for p in _plot_points(records, "zero_shot")}
    assert zs["ezclip"]["value"] == pytest.approx(0.6)  # 25, 30, 35 of 50
    est, low, high = stats.bootstrap_nested_mean_ci([[fake.zs_correct("ezclip", s)] for s in ("test1", "test2",
                                                                                            "test3")])
    assert (zs["ezclip"]["low"], zs["ezclip"]["high"]) == pytest.approx((low, high))
    fs = {p["method"]: p for p in _plot_points(records, "few_shot")}
    assert fs["ezclip"]["value"] == pytest.approx(((30 + 33) / 120 + (40 + 42) / 120) / 2)  # mean over K
    b2n = {p["method"]: p for p in _plot_points(records, "base2novel")}
    hm_row = {(r["method"], r["metric"]): r for r in read_csv(built[1] / "base2novel.csv")}[("ezclip", "HM")]
    assert 100 * b2n["ezclip"]["low"] == pytest.approx(float(hm_row["ci_low_pct"]), abs=1e-3)
    assert all(p["low"] <= p["value"] <= p["high"] for pts in (zs, fs, b2n) for p in pts.values())
    assert b2n["ezclip"]["gmacs"] == 1.5 and b2n["clip"]["trainable"] == 0


@pytest.mark.parametrize("protocol", ["base2novel", "zero_shot", "few_shot"])
def test_plot_axes_include_zero_and_every_point_has_error_bars(built, protocol):
    from matplotlib.container import ErrorbarContainer

    points = _plot_points(built[0], protocol)
    for xkey in ("gmacs", "trainable"):
        fig = plots.plot_figure(protocol, "HM", points, xkey)
        ax = fig.axes[0]
        assert ax.get_ylim() == (0.0, 100.0)  # accuracy from 0
        left, right = ax.get_xlim()
        assert left <= 0 < right and right > max(p[xkey] for p in points)
        if xkey == "gmacs":
            assert ax.get_xscale() == "linear" and left == 0 and "from 0" in ax.get_xlabel()
        else:  # 0 (frozen CLIP) to millions: a log axis that says so
            assert ax.get_xscale() == "symlog" and "log scale" in ax.get_xlabel()
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == len(points)
        spans = sorted(tuple(np.round(seg[:, 1], 6)) for c in bars for seg in c.lines[2][0].get_segments())
        assert spans == sorted((round(100 * p["low"], 6), round(100 * p["high"], 6)) for p in points)
        assert not ax.texts  # no labels at the points: methods and datasets are in legends
        legend_labels = {t.get_text() for leg in [*ax.artists, ax.get_legend()] for t in leg.get_texts()}
        assert legend_labels == {p["method"] for p in points} | {p["dataset"] for p in points}
        screen_x = {}  # data x → screen x of each marker there (one dataset in the fake suite: one per method)
        for c in bars:
            xy = np.column_stack(c.lines[0].get_data()).astype(float)
            screen_x.setdefault(xy[0, 0], []).append(round(float(c.lines[0].get_transform().transform(xy)[0, 0]), 1))
        assert xkey != "gmacs" or any(len(v) > 1 for v in screen_x.values())  # ezclip and clip: same GMACs ...
        assert all(len(set(v)) == len(v) for v in screen_x.values())  # ... and are dodged apart, none hidden


def test_plot_point_without_predictions_is_hollow_and_says_why(tmp_path):
    records = tmp_path / "records"
    ev = fake.evaluation("test", "toy", "test", fake.correct_pattern(60, 45), "fs/test")
    ev["predictions"] = []
    fake.write(records, fake.record("ezclip", "few_shot", "toy", {"seed": 1, "shots": 2}, [ev]))
    points = _plot_points(records, "few_shot")
    assert points[0]["low"] is None and points[0]["value"] == pytest.approx(0.75)
    fig = plots.plot_figure("few_shot", "mean over K", points, "gmacs")
    assert not fig.axes[0].containers and "no CI" in fig._supxlabel.get_text()


# --------------------------------------------------------------------------------------------- reference


def test_unknown_reference_is_a_one_line_error_listing_the_methods(tmp_path, capsys):
    from harness.cli import main

    records = tmp_path / "records"
    fake.write_suite(records, methods=("ezclip", "clip"))
    with pytest.raises(HarnessError) as info:
        tables.build_tables(records, tmp_path / "res", reference="NOSUCH")
    message = str(info.value)
    assert "'NOSUCH' has no records" in message and "clip, ezclip" in message and "--reference" in message
    assert "\n" not in message and not (tmp_path / "res").exists()
    rc = main(["tables", "--records", str(records), "--results", str(tmp_path / "res"), "--reference", "ezclp"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: reference method 'ezclp'") and "did you mean 'ezclip'" in err
    assert err.count("\n") == 1


def test_default_reference_without_records_only_warns(tmp_path, caplog):
    records = tmp_path / "records"
    fake.write_suite(records, methods=("clip", "vificlip"))
    with caplog.at_level(logging.WARNING, logger="harness.reports.tables"):
        tables.build_tables(records, tmp_path / "res")  # e.g. after `harness run --method clip`
    assert "'ezclip' has no records" in caplog.text and "clip, vificlip" in caplog.text
    assert "No significance marks" in (tmp_path / "res" / "base2novel.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------- memory


def test_memory_only_from_records_that_say_how_it_was_measured(tmp_path):
    records, results = tmp_path / "records", tmp_path / "results"
    ev = [fake.evaluation("test", "toy", "test", fake.correct_pattern(60, 30), "fs/test")]
    old = fake.record("ezclip", "few_shot", "toy", {"seed": 1, "shots": 2}, ev, memory_how=None)
    old["training"]["peak_memory_mb"] = 1400.0  # process RSS of the older runner
    new = fake.record("ezclip", "few_shot", "toy", {"seed": 2, "shots": 2}, ev, memory_how="CUDA allocated")
    new["training"]["peak_memory_mb"] = 42.0
    fake.write(records, old)
    fake.write(records, new)
    fake.write(records, fake.record("vificlip", "few_shot", "toy", {"seed": 1, "shots": 2}, ev, memory_how=None))
    tables.build_tables(records, results, reference="ezclip")
    assert md_row(results / "efficiency.md", "ezclip")[10:12] == ["42", "[1]"]  # not 1400
    assert md_row(results / "efficiency.md", "vificlip")[10:12] == ["not measured", "—"]
    rows = {r["method"]: r for r in read_csv(results / "efficiency.csv")}
    assert (rows["ezclip"]["peak_memory_how"], rows["ezclip"]["memory_records"]) == ("CUDA allocated", "1")
    assert rows["vificlip"]["peak_memory_mb"] == ""
    assert "[1] CUDA allocated" in (results / "efficiency.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------- sample size


def test_readme_states_n_and_minimum_detectable_difference(built):
    _, results, _ = built
    text = (results / "README.md").read_text(encoding="utf-8")
    assert "## Sample size and minimum detectable difference" in text and "independent" in text
    row = md_row(results / "README.md", "base2novel")  # first base2novel row: toy, B
    assert row[1:6] == ["toy", "B", "100", "3", "3"]
    base = float(np.median([(70 + 72 + 74) / 300, (69 + 73 + 72) / 300, 0.40]))  # per-method means of B
    assert row[6] == f"{100 * base:.1f}"
    assert row[7] == f"{100 * stats.min_detectable_difference(100, base):.1f}"
    assert row[8] == f"{100 * stats.min_detectable_difference(300, base):.1f}"
    assert row[9] == f"{stats.n_for_difference(0.10, base):,}"
    assert float(row[8]) < float(row[7])  # pooling three seeds lowers the MDD
    zs = md_row(results / "README.md", "zero_shot")
    assert zs[1:6] == ["toy-target", "top-1 (per split)", "50", "3", "3"]
    few = [line for line in text.splitlines() if line.startswith("| few_shot |")]
    assert [line.split("|")[3].strip() for line in few] == ["K=2", "K=4"]


def test_zero_shot_sample_size_is_one_row_per_target_whatever_the_source(tmp_path):
    """Frozen clip's zero-shot record names its targets as its dataset (it trains on nothing); its evaluations
    are compared with the trained methods' on the same target, so they belong to the same row."""
    from harness.reports.loading import load_records, protocol_name
    from harness.reports.outcomes import group_by
    from harness.reports.power import sample_sizes

    records = tmp_path / "records"
    fake.write_suite(records, methods=("ezclip", "vificlip"))
    fake.write(records, fake.record("clip", "zero_shot", "toy-target", {}, [
        fake.evaluation(f"toy-target/{s}", "toy-target", s, fake.zs_correct("clip", s), f"zs/{s}")
        for s in fake.ZS["clip"]]))
    by_protocol = group_by(load_records(records)[0], protocol_name)
    rows = [r for r in sample_sizes(by_protocol) if r["protocol"] == "zero_shot"]
    assert [(r["row"], r["methods"]) for r in rows] == [("toy-target", 3)]


def test_training_fit_puts_train_beside_test_and_tests_against_frozen_clip(tmp_path):
    """results/training_fit: per dataset the largest K (and base-to-novel base), train top-1 from the record,
    test top-1, and exact McNemar against clip on the same videos; an untrained record of a method is left out."""
    records, results = tmp_path / "records", tmp_path / "results"
    clip_ok, ezclip_ok = fake.correct_pattern(100, 40, seed=1), fake.correct_pattern(100, 70, seed=2)
    for method, correct in (("clip", clip_ok), ("ezclip", ezclip_ok), ("vificlip", clip_ok)):
        for k in (2, 16):
            rec = fake.record(method, "few_shot", "toy", {"seed": 1, "shots": k},
                              [fake.evaluation("test", "toy", "test", correct, "fs/test")])
            if method == "ezclip":
                rec["training"]["train_top1"] = 0.9 if k == 16 else 0.5
            fake.write(records, rec)
    tables.build_tables(records, results, reference="ezclip")
    rows = {r["method"]: r for r in read_csv(results / "training_fit.csv")}
    assert set(rows) == {"clip", "ezclip"}  # vificlip's records carry no train top-1: not shown as trained
    ez = rows["ezclip"]
    assert (ez["evaluation"], ez["train_top1_pct"], ez["top1_pct"]) == ("few-shot K=16", "90.000", "70.000")
    assert float(ez["delta_vs_clip_pp"]) == pytest.approx(30.0)
    assert float(ez["mcnemar_p"]) == pytest.approx(stats.mcnemar_exact(ezclip_ok, clip_ok)["p"], rel=1e-3)
    assert md_row(results / "training_fit.md", "few-shot K=16")[2] == "clip"


# --------------------------------------------------------------------------------------------- ablations


@pytest.fixture()
def ablation_built(tmp_path):
    records, results = tmp_path / "records", tmp_path / "results"
    fake.write_ablation_suite(records)
    tables.build_tables(records, results)
    return records, results


def _fs_pooled(method: str, dataset: str, which: int) -> np.ndarray:
    return np.concatenate([fake.ablation_flags(method, dataset, s)[which] for s in (1, 2)])


def test_ablation_table_marks_the_strong_difference_and_not_the_identical_variant(ablation_built):
    records, results = ablation_built
    header = md_row(results / "ablations.md", "method")
    assert header == ["method", "few-shot toy-target-a K=16", "few-shot toy-temporal K=16",
                      "few-shot toy-temporal K=16 direction"] + [
        f"base-to-novel {d} {c}" for d in ("toy-source", "toy-temporal") for c in ("B", "N", "HM")] + [
        "base-to-novel toy-temporal B direction", "base-to-novel toy-temporal N direction"]
    text = (results / "ablations.md").read_text(encoding="utf-8")
    assert [line.split("|")[1].strip() for line in text.splitlines()[6:9]] == [
        "ezclip", "ezclip-no-motion-loss", "ezclip-no-prompts"]
    temporal = header.index("few-shot toy-temporal K=16")
    full, motion, same = (md_row(results / "ablations.md", m) for m in ("ezclip", "ezclip-no-motion-loss",
                                                                        "ezclip-no-prompts"))
    assert full[temporal] == "63.7 [55.6, 71.9]" and "Δ" not in " ".join(full)  # (50 + 52) / 160
    assert motion[temporal].startswith("26.2 [") and motion[temporal].endswith(", Δ -37.5†")  # (20 + 22) / 160
    assert not motion[header.index("few-shot toy-target-a K=16")].endswith("†")  # appearance: 120 vs 121 of 160
    assert all(cell.endswith("Δ +0.0") for cell in same[1:])  # identical videos right: never marked
    rows = {(r["method"], r["dataset"], r["metric"]): r for r in read_csv(results / "ablations.csv")}
    mc = stats.mcnemar_exact(_fs_pooled("ezclip-no-motion-loss", "toy-temporal", 0),
                             _fs_pooled("ezclip", "toy-temporal", 0))
    row = rows[("ezclip-no-motion-loss", "toy-temporal", "K=16")]
    assert (int(row["mcnemar_n01"]), int(row["mcnemar_n10"])) == (mc["n01"], mc["n10"])
    assert float(row["p"]) == pytest.approx(mc["p"], rel=1e-5) and row["significant_vs_ezclip"] == "true"
    dmc = stats.mcnemar_exact(_fs_pooled("ezclip-no-motion-loss", "toy-temporal", 1),
                              _fs_pooled("ezclip", "toy-temporal", 1))
    assert float(rows[("ezclip-no-motion-loss", "toy-temporal", "K=16 direction")]["p"]) == pytest.approx(dmc["p"],
                                                                                                         rel=1e-5)
    tested = [r for r in read_csv(results / "ablations.csv") if r["p"]]  # Holm over the whole table
    assert len(tested) == 2 * 11
    for r, adj in zip(tested, stats.holm([float(r["p"]) for r in tested])):
        assert float(r["p_holm"]) == pytest.approx(adj, rel=1e-5)
        assert r["significant_vs_ezclip"] == str(adj < 0.05).lower()
    assert {k for k, r in rows.items() if r["significant_vs_ezclip"] == "true"} == {
        ("ezclip-no-motion-loss", "toy-temporal", "K=16"), ("ezclip-no-motion-loss", "toy-temporal", "K=16 direction")}
    assert "Holm-adjusted p < 0.05 over the 22 comparisons" in text and "does the motion loss help" in text
    assert "the data support that the motion loss helps there" in text
    assert "Where appearance decides (few-shot toy-target-a, base-to-novel toy-source), no column differs" in text
    assert "`ezclip-no-prompts`: no column differs from full EZ-CLIP (11 compared)" in text
    # the variants are not rows of the methods' tables (their own Holm family is here)
    few = (results / "few_shot.md").read_text(encoding="utf-8")
    assert "| ezclip-no-" not in few and "compared with full ezclip in the ablations table" in few
    first = {p.name: p.read_bytes() for p in results.glob("ablations.*")}
    tables.build_tables(records, results)
    assert {p.name: p.read_bytes() for p in results.glob("ablations.*")} == first and len(first) == 3


def test_ablation_note_claims_nothing_when_no_variant_differs(tmp_path):
    records, results = tmp_path / "records", tmp_path / "results"
    fake.write_ablation_suite(records, methods=("ezclip", "ezclip-no-prompts"))
    fake.write_suite(records, methods=("ezclip",))  # zero-shot: ezclip only so far
    zs = [fake.evaluation(f"toy-target/{s}", "toy-target", s, fake.zs_correct("ezclip", s), f"zs/{s}")
          for s in fake.ZS["ezclip"]]
    fake.write(records, fake.record("ezclip-no-adapters", "zero_shot", "toy-source", {}, zs))
    tables.build_tables(records, results)
    text = (results / "ablations.md").read_text(encoding="utf-8")
    assert "no variant differs from full EZ-CLIP in any column" in text and "not ruled out" in text
    assert "support" not in text and "Motion loss" not in text  # no motion-loss variant: no answer to that half
    header = md_row(results / "ablations.md", "method")
    column = header.index("zero-shot toy-source → toy-target mean over splits")
    assert md_row(results / "ablations.md", "ezclip")[column].startswith("60.0 [")  # 25, 30, 35 of 50
    assert md_row(results / "ablations.md", "ezclip-no-adapters")[column].endswith("Δ +0.0")
    assert md_row(results / "ablations.md", "ezclip-no-adapters")[1] == "—"  # no few-shot records of it
    assert "`ablations.md` / `.csv` / `.tex` | EZ-CLIP vs each ablation variant" in \
        (results / "README.md").read_text(encoding="utf-8")


def test_no_ablation_table_without_variant_records(tmp_path):
    records, results = tmp_path / "records", tmp_path / "results"
    fake.write_ablation_suite(records)
    tables.build_tables(records, results)
    assert (results / "ablations.md").exists()
    shutil.rmtree(records / "few_shot" / "ezclip-no-motion-loss")
    shutil.rmtree(records / "few_shot" / "ezclip-no-prompts")
    shutil.rmtree(records / "base2novel" / "ezclip-no-motion-loss")
    shutil.rmtree(records / "base2novel" / "ezclip-no-prompts")
    tables.build_tables(records, results)
    assert not list(results.glob("ablations.*")) and "ablations" not in (results / "README.md").read_text("utf-8")


# --------------------------------------------------------------------------------------------- direction


def _temporal_rival(records: Path, direction_right: int | None, seeds=(1, 2)) -> None:
    """clip on toy-temporal K=16: ezclip's top-1 videos, ``direction_right`` of 80 in direction (None: no field)."""
    for seed in seeds:
        correct, _ = fake.ablation_flags("ezclip", "toy-temporal", seed)
        direction = None if direction_right is None else fake.correct_pattern(fake.N_ABL, direction_right, 900 + seed)
        fake.write(records, fake.record("clip", "few_shot", "toy-temporal", {"seed": seed, "shots": 16}, [
            fake.evaluation("test", "toy-temporal", "test", correct, "toy-temporal/test", direction=direction)]))


def test_direction_column_values_cis_and_mcnemar(tmp_path):
    records, results = tmp_path / "records", tmp_path / "results"
    fake.write_ablation_suite(records, methods=("ezclip",))
    _temporal_rival(records, 40)
    tables.build_tables(records, results)
    rows = {(r["method"], r["dataset"]): r for r in read_csv(results / "few_shot.csv")}
    dirs = [fake.ablation_flags("ezclip", "toy-temporal", s)[1] for s in (1, 2)]
    est, low, high = stats.bootstrap_mean_ci(dirs, same_videos=True)
    row = rows[("ezclip", "toy-temporal")]
    assert float(row["direction_pct"]) == pytest.approx(100 * (70 + 72) / 160, abs=1e-3) == pytest.approx(100 * est)
    assert (float(row["direction_low_pct"]), float(row["direction_high_pct"])) == pytest.approx(
        (100 * low, 100 * high), abs=1e-3)
    assert rows[("ezclip", "toy-target-a")]["direction_pct"] == ""  # no pairs there: no field, no value
    header = md_row(results / "few_shot.md", "method")
    assert header == ["method", "toy-target-a K=16", "toy-temporal K=16", "toy-temporal K=16 direction"]
    assert md_row(results / "few_shot.md", "ezclip")[3] == f"88.8 [{100 * low:.1f}, {100 * high:.1f}]"
    assert md_row(results / "few_shot.md", "clip")[3].startswith("50.0 [") and \
        md_row(results / "few_shot.md", "clip")[3].endswith("†")  # 40 of 80: chance, far below 88.8
    tests = {r["K"]: r for r in read_csv(results / "few_shot_tests.csv")}
    assert set(tests) == {"K=16", "K=16 direction"}
    mine = np.concatenate([fake.correct_pattern(fake.N_ABL, 40, 900 + s) for s in (1, 2)])
    mc = stats.mcnemar_exact(mine, np.concatenate(dirs))
    assert float(tests["K=16 direction"]["p_mcnemar"]) == pytest.approx(mc["p"], rel=1e-5)
    assert float(tests["K=16"]["p_mcnemar"]) == 1.0  # the same videos right: top-1 does not differ
    adjusted = stats.holm([1.0, mc["p"]])  # Holm over both, top-1 and direction
    assert float(tests["K=16 direction"]["p_holm"]) == pytest.approx(adjusted[1], rel=1e-5)
    b2n = {(r["dataset"], r["metric"]): r for r in read_csv(results / "base2novel.csv")}
    base_dir = fake.ablation_flags("ezclip", "toy-temporal", 1, "base")[1]
    est, low, high = stats.bootstrap_ci(base_dir)
    assert float(b2n[("toy-temporal", "B direction")]["value_pct"]) == pytest.approx(100 * est, abs=1e-3)
    assert float(b2n[("toy-temporal", "B direction")]["ci_low_pct"]) == pytest.approx(100 * low, abs=1e-3)
    assert ("toy-source", "B direction") not in b2n
    assert md_row(results / "base2novel.md", "method")[-2:] == ["toy-temporal B direction",
                                                                "toy-temporal N direction"]


def test_records_without_direction_show_a_dash(tmp_path):
    records, results = tmp_path / "records", tmp_path / "results"
    fake.write_ablation_suite(records, methods=("ezclip",))
    _temporal_rival(records, None)  # older records: no direction field at all
    ev = fake.evaluation("test", "toy-temporal", "test", fake.correct_pattern(fake.N_ABL, 30), "toy-temporal/test",
                         direction=[None] * fake.N_ABL)  # the field, but null: no pair in the class set
    fake.write(records, fake.record("vificlip", "few_shot", "toy-temporal", {"seed": 1, "shots": 16}, [ev]))
    tables.build_tables(records, results)
    assert md_row(results / "few_shot.md", "clip")[3] == "—"
    assert md_row(results / "few_shot.md", "vificlip")[3] == "—"
    assert md_row(results / "few_shot.md", "ezclip")[3].startswith("88.8 [")
    assert {r["K"] for r in read_csv(results / "few_shot_tests.csv")} == {"K=16"}  # nothing to pair direction with


def test_malformed_direction_flag_names_the_record(tmp_path):
    records = tmp_path / "records"
    ev = fake.evaluation("test", "toy-temporal", "test", fake.correct_pattern(10, 5), "t", direction=[True] * 10)
    ev["predictions"][0]["direction"] = "yes"
    fake.write(records, fake.record("ezclip", "few_shot", "toy-temporal", {"seed": 1, "shots": 16}, [ev]))
    with pytest.raises(HarnessError, match=r"few_shot/ezclip/toy-temporal/.*direction.*true or false"):
        tables.build_tables(records, tmp_path / "results")
