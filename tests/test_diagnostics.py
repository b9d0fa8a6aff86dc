"""Temporal diagnostics (harness.diagnostics, `analyze`): frame-order views, motion-loss terms, EZ-CLIP's prompt
attention, their diagnostic records and tables, and results/index.html in a real headless browser."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch

from harness.diagnostics import motion_terms, prompt_attention
from harness.diagnostics.analyses import analyse_run
from harness.diagnostics.store import load_diagnostics
from harness.diagnostics.temporal_views import FRAME_VIEWS, frame_view, view_indices
from harness.engine.runner import run
from harness.errors import HarnessError

TOY = dict(name="toy-vit", pretrained="none")
SMOKE = ["train.epochs=1", "train.warmup_epochs=0", "eval.limit=24", "runtime.train_eval_videos=8", "model.frames=4"]


def test_view_indices():
    assert view_indices("in_order", 8) == list(range(8))
    assert view_indices("reversed", 8) == list(range(8))[::-1]
    assert view_indices("repeated", 8) == [4] * 8
    shuffled = view_indices("shuffled", 8)
    assert sorted(shuffled) == list(range(8)) and shuffled not in (list(range(8)), list(range(8))[::-1])
    assert view_indices("shuffled", 8) == shuffled  # fixed seed
    with pytest.raises(HarnessError, match="unknown frame view 'backwards'"):
        view_indices("backwards", 8)


def test_per_video_terms_are_the_motion_loss_terms():
    from methods.ezclip import motion_loss

    embeddings = torch.randn(5, 8, 16) * 3
    terms = motion_terms.per_video_terms(embeddings)
    expected = motion_loss(embeddings).item()
    assert 1.0 / (terms["central"].mean() + terms["variance"].mean() + 1.0) == pytest.approx(expected, rel=1e-5)
    still = motion_terms.per_video_terms(torch.ones(2, 4, 3))  # a still video has no motion
    assert np.allclose(still["central"], 0) and np.allclose(still["variance"], 0)


def _batch(frames: int, size: int = 32, batch: int = 3, seed: int = 0):
    from mmaction.structures import ActionDataSample

    generator = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (frames, 3, size, size), generator=generator, dtype=torch.uint8)
              for _ in range(batch)]
    samples = [ActionDataSample().set_gt_label(torch.tensor([i % 2])) for i in range(batch)]
    return dict(inputs=inputs, data_samples=samples)


def _scores(model, data):
    with torch.no_grad():
        return torch.stack([s.pred_score for s in model.test_step(data)])


def test_frame_views_reach_the_model_and_frozen_clip_is_order_invariant():
    from methods.clip import FrozenCLIP

    torch.manual_seed(0)
    model = FrozenCLIP(backbone=TOY, frames=4).eval()
    model.set_class_names(["a", "b", "c"])
    data = _batch(4)
    in_order = _scores(model, data)
    for view in ("reversed", "shuffled"):
        with frame_view(model, view):
            scores = _scores(model, data)
        # the mean over frames is order-invariant up to float summation order: equal to 1e-6, same argmax
        assert torch.allclose(scores, in_order, atol=1e-6) and torch.equal(scores.argmax(1), in_order.argmax(1))
    with frame_view(model, "repeated"):
        assert not torch.allclose(_scores(model, data), in_order, atol=1e-6)  # the hook really reorders frames
    assert not model.data_preprocessor._forward_hooks  # removed on exit


def test_attention_capture_leaves_ezclip_outputs_unchanged():
    from methods.ezclip import EZCLIP

    torch.manual_seed(0)
    model = EZCLIP(backbone=TOY, frames=4).eval()
    model.set_class_names(["a", "b"], {"a": "a", "b": "b"})
    data = _batch(4)
    plain = _scores(model, data)
    with prompt_attention.capture(model) as attention, motion_terms.capture(model) as motion:
        captured = _scores(model, data)
    assert torch.equal(plain, captured)
    summary = attention.summary(["a", "b"])
    assert summary["frames"] == 4 and [c["views"] for c in summary["classes"]] == [2, 1]
    across = np.asarray(summary["classes"][0]["across_frames"])  # (layers, query, key): rows are softmaxes
    assert across.shape == (summary["layers"], 4, 4) and np.allclose(across.sum(-1), 1, atol=1e-4)
    to_temporal = np.asarray(summary["classes"][0]["to_temporal"])
    assert ((0 < to_temporal) & (to_temporal < 1)).all()
    assert len(motion.summary()["central"]) == 3
    assert "encode_frames" not in vars(model)  # the capture's wrapper is gone
    from methods.clip import FrozenCLIP

    with pytest.raises(HarnessError, match="no temporal prompts"):
        prompt_attention.prompt_blocks(FrozenCLIP(backbone=TOY, frames=4))


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """clip and a one-epoch EZ-CLIP on toy-temporal (24 test videos per list), analysed, tabled."""
    root = tmp_path_factory.mktemp("diagnostics")
    records, work = root / "records", root / "work"
    sources = []
    for method in ("clip", "ezclip"):
        sources += run(method, "base2novel", datasets=["toy-temporal"], seeds=[1], cfg_options=SMOKE,
                       records_dir=str(records), work_dir=str(work))
    from harness.diagnostics.runs import source_records

    for method in ("clip", "ezclip"):
        for record in source_records(records, method, "base2novel", "toy-temporal"):
            analyse_run(record, ["temporal", "motion", "attention"], records, work)
    from harness.reports.tables import build_tables

    written = build_tables(records, root / "results")
    return dict(root=root, records=records, results=root / "results", sources=sources, written=written)


def test_frozen_clip_predictions_identical_under_reversal_and_shuffle(analysed):
    diag = [d for d in load_diagnostics(analysed["records"], "temporal") if d["method"] == "clip"]
    assert len(diag) == 1
    by_view = {(e["name"], e["view"]): {p["video"]: p["pred"] for p in e["predictions"]} for e in diag[0]["evaluations"]}
    source = next(r for r in analysed["sources"] if r["method"] == "clip")
    for ev in source["evaluations"]:
        recorded = {p["video"]: p["pred"] for p in ev["predictions"]}
        assert by_view[(ev["name"], "in_order")] == recorded  # the in-order view reproduces the run exactly
        for view in ("reversed", "shuffled"):
            assert by_view[(ev["name"], view)] == recorded  # exact equality of every video's predicted class
    assert {e["view"] for e in diag[0]["evaluations"]} == set(FRAME_VIEWS)


def test_analyses_write_records_and_tables(analysed):
    records, results = analysed["records"], analysed["results"]
    assert {d["method"] for d in load_diagnostics(records, "motion")} == {"clip", "ezclip"}
    assert [d["method"] for d in load_diagnostics(records, "attention")] == ["ezclip"]  # clip has no prompts
    ezclip = load_diagnostics(records, "temporal")[1]
    assert ezclip["weights"]["path"].endswith("final_state_dict.pth") and len(ezclip["weights"]["sha256"]) == 64
    temporal = (results / "temporal.md").read_text()
    clip_rows = [line for line in temporal.splitlines() if line.startswith("| clip ") and "reversed" in line]
    assert len(clip_rows) == 2 and all("| 0 / 0 / 0 " in row for row in clip_rows)
    assert "central_low" in (results / "motion_terms.csv").read_text().splitlines()[0]
    for name in ("temporal.png", "motion_terms.png", "prompt_attention_ezclip_toy-temporal.png", "backbones.png"):
        assert (results / "plots" / name).is_file()
    assert "base2novel" not in {p.parts[0] for p in (records / "diagnostics").iterdir()}
    # diagnostic records are not run records: the protocol tables read only the two runs
    assert "Read 2 run record(s)" in (results / "README.md").read_text()
    # a second analysis is skipped (records exist), like `run`
    before = sorted(p.stat().st_mtime_ns for p in (records / "diagnostics").rglob("*.json"))
    source = next(r for r in load_runs(records) if r["method"] == "clip")
    analyse_run(source, ["temporal"], records, analysed["root"] / "work")
    assert sorted(p.stat().st_mtime_ns for p in (records / "diagnostics").rglob("*.json")) == before


def load_runs(records):
    from harness.reports.loading import load_records

    return load_records(records)[0]


def test_missing_weights_is_one_clear_error(analysed, tmp_path):
    from harness.diagnostics.runs import resolve_weights

    record = next(r for r in load_runs(analysed["records"]) if r["method"] == "ezclip")
    moved = dict(record, work_dir="nowhere")
    with pytest.raises(HarnessError, match="no saved weights of .*--train-missing"):
        resolve_weights(moved, None, [tmp_path], False, tmp_path)
    with pytest.raises(HarnessError, match="checkpoint .*missing.pth does not exist"):
        resolve_weights(record, str(tmp_path / "missing.pth"), [], False, tmp_path)


def test_analyze_cli_unknown_method_is_one_line(analysed, capsys):
    from harness.cli import main

    code = main(["analyze", "temporal", "--method", "ezclp", "--protocol", "base2novel", "--dataset", "toy-temporal",
                 "--records", str(analysed["records"])])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "ezclp" in err and "ezclip" in err


_CHECK_PAGE = """
<script>
window.addEventListener('load', function () {
  var out = {tables: {}, images: [], sorted: null};
  document.querySelectorAll('table').forEach(function (t) { out.tables[t.id] = t.tBodies[0].rows.length; });
  document.querySelectorAll('img').forEach(function (i) { out.images.push([i.getAttribute('src'), i.naturalWidth]); });
  var table = document.getElementById('table-runs'), th = table.tHead.rows[0].cells[0];
  var column = function () { return Array.prototype.map.call(table.tBodies[0].rows,
                                                            function (r) { return r.cells[0].textContent; }); };
  var before = column(); th.click(); var ascending = column(); th.click(); var descending = column();
  out.sorted = {before: before, ascending: ascending, descending: descending};
  var temporal = document.getElementById('table-temporal');
  var col = Array.prototype.findIndex.call(temporal.tHead.rows[0].cells,
                                          function (c) { return c.textContent.indexOf('top-1') === 0; });
  temporal.tHead.rows[0].cells[col].click();
  out.top1 = Array.prototype.map.call(temporal.tBodies[0].rows,
                                      function (r) { return parseFloat(r.cells[col].textContent); });
  var pre = document.createElement('pre'); pre.id = 'page-check'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_index_page_in_headless_chromium(analysed, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (.ci/run installs it with apt-get when it can)")
    results = analysed["results"]
    page = (results / "index.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page  # nothing to fetch: the page works offline
    probe = results / "index-check.html"  # beside the page, so relative plot paths resolve the same way
    probe.write_text(page.replace("</body>", _CHECK_PAGE + "</body>"), encoding="utf-8")
    try:
        done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               "--user-data-dir=" + str(tmp_path / "profile"), "--virtual-time-budget=5000",
                               "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    dom = done.stdout
    assert 'id="page-check"' in dom, done.stderr[-2000:]
    import html as html_lib

    check = json.loads(html_lib.unescape(dom.split('id="page-check">', 1)[1].split("</pre>", 1)[0]))
    stems = {p.stem for p in analysed["written"] if p.suffix == ".md" and p.stem != "README"}
    assert {f"table-{s}" for s in stems} <= set(check["tables"])  # every table of results/ is on the page
    assert all(rows > 0 for name, rows in check["tables"].items() if name != "table-published-zero_shot")
    assert check["images"] and all(width > 0 for _, width in check["images"])  # every plot loaded from disk
    sorted_ = check["sorted"]
    assert sorted_["ascending"] == sorted(sorted_["before"]) and sorted_["descending"] == sorted_["ascending"][::-1]
    assert len(set(sorted_["before"])) > 1 and sorted_["descending"] != sorted_["before"]  # rows really moved
    assert check["top1"] == sorted(check["top1"]) and len(set(check["top1"])) > 1  # numeric, not text, order


def test_diagnostics_of_runs_no_longer_recorded_are_not_tabled(analysed, tmp_path):
    from harness.reports.diagnostics_report import build_diagnostics

    records = tmp_path / "records"
    shutil.copytree(analysed["records"], records)
    clip_record = next(p for p in (records / "base2novel" / "clip").rglob("*.json"))
    clip_record.unlink()  # as after a new sweep: the analysed run's record is gone (a new run id replaced it)
    runs = load_runs(records)
    tables, _, by_stem = build_diagnostics(records, runs)
    assert {d["method"] for d in by_stem["temporal"]} == {"ezclip"}
    temporal = next(t for t in tables if t.stem == "temporal")
    assert {row[0] for row in temporal.rows} == {"ezclip"}


def test_analyze_backbones_runs_base2novel_per_backbone(tmp_path):
    from harness.cli import main
    from harness.reports.backbones import build_backbones

    code = main(["analyze", "backbones", "--method", "clip", "--backbones", "toy-vit", "--dataset", "toy-temporal",
                 "--seed", "1", "--records", str(tmp_path / "records"), "--work-dir", str(tmp_path / "work"),
                 "--cfg-options", "eval.limit=8"])
    assert code == 0
    table, rows = build_backbones(load_runs(tmp_path / "records"))
    assert [(r["method"], r["backbone"], r["pretrained"]) for r in rows] == [("clip", "toy-vit", "embedded")]
    assert table.rows[0][2] == "toy-vit" and table.rows[0][6] != "—"
