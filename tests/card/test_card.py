"""The dataset card: YAML from schema.py, prose from the run's settings, tables and plots from the shards."""

from __future__ import annotations

import json
import re
import shutil
import statistics
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from datasets import Features, load_dataset

from fakes.synthetic_dataset import CAPTION_SETTINGS, captioned, provenance, reject, row, write_dataset
from lvd2m_builder import schema
from lvd2m_builder.card.plots import canvas, draw_plots
from lvd2m_builder.card.stats import Summary
from lvd2m_builder.cli import main
from lvd2m_builder.config import BuildConfig

DURATIONS = [11.0, 14.9, 15.0, 19.0, 25.0, 31.0, 49.9, 50.0, 75.0]
WORDS = [10, 49, 50, 120, 160, 250, 301, 80, 90]


def _yaml(card: str) -> dict:
    return yaml.safe_load(card.split("---")[1])


def _table(card: str, heading: str) -> dict[str, int]:
    """bucket label -> clips, from the table under ``### heading``."""
    section = card.split(f"### {heading}\n", 1)[1].split("\n#", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^\| ([^|]+?) \| (\d+) \| [\d.]+% \|$", section, re.M)}


def _expected_buckets(values, edges, unit):
    labels = [f"{a:g}-{b:g}{unit}" for a, b in zip(edges, edges[1:])] + [f">{edges[-1]:g}{unit}"]
    counts = dict.fromkeys(labels, 0)
    for v in values:
        inside = [i for i, (a, b) in enumerate(zip(edges, edges[1:])) if a <= v < b]
        counts[labels[inside[0]] if inside else labels[-1]] += 1
    return counts


@pytest.fixture(scope="module")
def captioned_build(tmp_path_factory):
    rows = [captioned(i, words=w, duration=d) for i, (d, w) in enumerate(zip(DURATIONS, WORDS))]
    return write_dataset(tmp_path_factory.mktemp("card") / "lvd2m", [rows[:5], rows[5:]],
                         [[reject(0)], [reject(1, stage="cuts")]], CAPTION_SETTINGS)


@pytest.fixture
def captioned_out(captioned_build, tmp_path):
    """A private copy: tests that render the card again do not disturb the others."""
    return Path(shutil.copytree(captioned_build, tmp_path / "lvd2m"))


def test_yaml_configs_and_features_come_from_schema(captioned_out):
    data = _yaml((captioned_out / "README.md").read_text())
    assert data["configs"] == schema.configs()
    features = {info["config_name"]: Features._from_yaml_list(info["features"]) for info in data["dataset_info"]}
    assert features == {"default": schema.ROW_FEATURES, "rejects": schema.REJECT_FEATURES}
    assert data["size_categories"] == ["n<1K"] and data["task_categories"] == ["text-to-video"]
    assert data["pretty_name"] and "long-take" in data["tags"]
    assert data["annotations_creators"] == ["machine-generated"] and data["source_datasets"] == ["original"]


def test_license_other_names_and_links_its_terms(captioned_out):
    card = (captioned_out / "README.md").read_text()
    data = _yaml(card)
    assert data["license"] == "other" and data["license_name"] and data["license_link"] == "README.md#license"
    assert "\n## License\n" in card  # the section the link points at


@pytest.mark.parametrize("accepted, category", [(999, "n<1K"), (2_000_000, "1M<n<10M"),
                                                (220_000_000, "100M<n<1B"), (10**13, "n>1T")])
def test_size_categories_go_beyond_a_million(accepted, category):
    from lvd2m_builder.card.write import _size_category

    assert _size_category(accepted) == category


def test_videos_config_appears_only_when_videos_are_embedded(captioned_out):
    (captioned_out / schema.VIDEOS_DIR).mkdir()
    card = (captioned_out / "README.md").read_text()
    assert '"videos"' not in card and "videos/train-*.parquet" not in card
    (captioned_out / schema.VIDEOS_DIR / "train-00000-of-00001.parquet").write_bytes(b"")
    assert main(["card", str(captioned_out)]) == 0
    card = (captioned_out / "README.md").read_text()
    names = [c["config_name"] for c in _yaml(card)["configs"]]
    assert names == ["default", "rejects", "videos"]
    assert "`videos/train-*.parquet` for `videos`" in card  # the prose documents the config and how to read it
    assert 'load_dataset("lvd2m", "videos", streaming=True)' in card


def test_tables_count_the_accepted_rows(captioned_out):
    card = (captioned_out / "README.md").read_text()
    assert _table(card, "Duration") == _expected_buckets(DURATIONS, (10, 15, 20, 30, 50), " s")
    assert _table(card, "Caption words") == _expected_buckets(WORDS, (1, 50, 100, 150, 200, 300), " words")
    flows = [25.0 + i for i in range(len(DURATIONS))]
    assert _table(card, "Flow score") == _expected_buckets(flows, (20, 30, 50, 100), "")
    summary = re.search(r"^\| clips \|.*\n.*\n(\|.*\|)$", card, re.M)[1].strip("| ").split(" | ")
    assert summary[0] == str(len(DURATIONS))
    assert summary[2] == f"{statistics.mean(DURATIONS):.1f}" and summary[3] == f"{statistics.median(DURATIONS):.1f}"
    assert summary[4] == str(len(WORDS)) and summary[5] == f"{statistics.mean(WORDS):.1f}"
    assert summary[6] == f"{statistics.mean(flows):.1f}" and summary[7] == "640x360"
    assert "| cuts | 11 | 1 | 10 |" in card and "| motion | 10 | 1 | 9 |" in card  # the funnel, from stats.json


def test_plots_are_pngs_linked_from_the_card(captioned_out):
    card = (captioned_out / "README.md").read_text()
    for name in ("duration", "caption_words", "flow_score"):
        png = captioned_out / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](plots/{name}.png)" in card


def test_a_rebuild_without_captions_drops_the_caption_plot(captioned_out):
    for path in captioned_out.glob("*/*.parquet"):
        path.unlink()
    write_dataset(captioned_out, [[row(0), row(1)]])
    card = (captioned_out / "README.md").read_text()
    assert not (captioned_out / "plots" / "caption_words.png").exists()
    assert (captioned_out / "plots" / "duration.png").exists()
    assert "### Caption words\n\nNo accepted clip has a value here yet." in card


def test_card_and_plots_are_deterministic(captioned_out):
    before = {p.name: p.read_bytes() for p in [captioned_out / "README.md", *captioned_out.glob("plots/*.png")]}
    assert main(["card", str(captioned_out)]) == 0
    after = {p.name: p.read_bytes() for p in [captioned_out / "README.md", *captioned_out.glob("plots/*.png")]}
    assert after == before  # a re-push finds nothing changed


def test_pipeline_prose_names_the_settings_and_models_used(tmp_path):
    config = BuildConfig().replace({"motion.backend": "raft", "motion.min_score": 15, "cuts.threshold": 30,
                                    "duration.min_s": 12.5, "captions.segment_s": 20.0})
    settings = config.to_dict()
    out = write_dataset(tmp_path / "out", [[row(1, settings, provenance=provenance(settings, captions_ran=True))]],
                        settings=settings)
    card = (out / "README.md").read_text()
    assert "| scene cuts | PySceneDetect ContentDetector | threshold 30," in card
    assert "| motion | torchvision RAFT-large, 12 updates | mean flow magnitude >= 15 " in card
    assert "| duration | probed length | > 12.5 s |" in card
    captions = next(line for line in card.splitlines() if line.startswith("| captions |"))
    assert config.captions.vlm.model in captions and config.captions.llm.model in captions
    assert "segment_s 20.0" in captions and "ran on no clip" not in captions
    semantic = next(line for line in card.splitlines() if line.startswith("| semantic |"))
    assert "ran on no clip" in semantic  # enabled, but no semantic seconds in stats.json: it never ran


def test_card_cli_names_the_repo_and_refuses_a_non_build(tmp_path, captioned_out, capsys):
    assert main(["card", str(captioned_out), "--repo-id", "alice/lvd2m"]) == 0
    assert 'load_dataset("alice/lvd2m", streaming=True)' in (captioned_out / "README.md").read_text()
    (tmp_path / "empty").mkdir()
    assert main(["card", str(tmp_path / "empty")]) == 2
    assert "not the output of lvd2m build" in capsys.readouterr().err


def test_load_dataset_lvd2m_streams_a_local_directory_named_lvd2m(captioned_out, monkeypatch):
    monkeypatch.chdir(captioned_out.parent)
    train = list(load_dataset("lvd2m", streaming=True)["train"])
    rejects = list(load_dataset("lvd2m", "rejects", streaming=True)["train"])
    expected = [captioned(i, words=w, duration=d) for i, (d, w) in enumerate(zip(DURATIONS, WORDS))]
    assert [r["key"] for r in train] == [r["key"] for r in expected]
    assert [r["refined_caption"] for r in train] == [r["refined_caption"] for r in expected]
    assert train[0]["segments"] == expected[0]["segments"]
    assert [(r["key"], r["stage"]) for r in rejects] == [("reject-0000", "motion"), ("reject-0001", "cuts")]


def test_the_card_lists_the_ten_most_common_reasons_whatever_order_stats_json_keeps(captioned_out):
    stats_path = captioned_out / "stats.json"
    stats = json.loads(stats_path.read_text())
    stats["rejected_by_reason"] = {f"motion: reason {name}": count for name, count in
                                   zip("abcdefghijkl", [1, 1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 90])}
    stats_path.write_text(json.dumps(stats, sort_keys=True))  # names in order: the largest count comes last
    assert main(["card", str(captioned_out)]) == 0
    card = (captioned_out / "README.md").read_text()
    listed = re.findall(r"^\| motion: reason (\w) \| (\d+) \|$", card, re.M)
    assert listed == [("l", "90"), ("k", "6"), ("j", "5"), ("i", "4"), ("g", "3"), ("h", "3"), ("e", "2"),
                      ("f", "2"), ("a", "1"), ("b", "1")]


def test_the_plots_titles_are_where_matplotlibs_own_placement_puts_them(monkeypatch):
    from matplotlib.axes import Axes

    rng = np.random.default_rng(5)
    summary = Summary(rng.gamma(2, 10, 3000) + 10, rng.gamma(2, 5, 3000), rng.integers(1, 400, 3000), Counter())
    placed = draw_plots(summary)
    set_title = Axes.set_title
    monkeypatch.setattr(Axes, "set_title", lambda self, label, y=None, **kw: set_title(self, label, **kw))
    assert draw_plots(summary) == placed  # the same bytes, the title placed by matplotlib


def test_plots_drawn_on_one_figure_are_the_plots_drawn_alone():
    rng = np.random.default_rng(3)
    whole = Summary(rng.gamma(2, 10, 5000) + 10, rng.gamma(2, 5, 5000), rng.integers(1, 400, 5000), Counter())
    together = draw_plots(whole)  # duration, then caption words, then flow score, on one figure
    alone = {"duration": draw_plots(Summary(durations=whole.durations)),
             "caption_words": draw_plots(Summary(caption_words=whole.caption_words)),
             "flow_score": draw_plots(Summary(flow_scores=whole.flow_scores))}
    assert together == {name: plots[name] for name, plots in alone.items()}
    assert draw_plots(whole, canvas()) == together  # on a figure readied ahead, as the import draws them
    # a narrow distribution after a wide one keeps nothing of it (limits, lines, labels)
    narrow = Summary(durations=whole.durations * 40, caption_words=whole.caption_words[:10] % 7 + 1)
    assert draw_plots(narrow)["caption_words"] == draw_plots(Summary(caption_words=narrow.caption_words))["caption_words"]


@pytest.mark.parametrize("videos, fields", [
    (False, {}),
    (True, {"license": "mit", "pretty_name": "My clips", "description": "Clips: *mine*.\n\nTwo paragraphs.",
            "citation": "@misc{x, title={A: b}}"}),
    (False, {"license": "other", "license_name": "my-terms", "license_link": "https://example.com/terms"}),
])
def test_the_card_is_what_huggingface_hub_renders_and_writes_back(captioned_out, videos, fields):
    """The card is written as rendered (no parse and dump of its YAML): that must be the text huggingface_hub's
    ``from_template`` makes of the same data, and what the Hub's parser writes back unchanged."""
    from huggingface_hub import DatasetCard

    from lvd2m_builder.card import write
    from lvd2m_builder.store.manifest import Manifest

    stats = json.loads((captioned_out / "stats.json").read_text())
    settings = Manifest.load(captioned_out).settings
    args = (stats, settings, None, {"duration": "plots/duration.png"}, "me/clips", videos, "", fields)
    text = write.card_markdown(*args)
    assert str(DatasetCard(text)) == text
    rendered = []
    with pytest.MonkeyPatch.context() as patch:  # huggingface_hub's own rendering, from the template's text
        patch.setattr(write, "card_template", lambda: _HubTemplate(rendered))
        write.card_markdown(*args)
    assert rendered == [text]
    assert write.card_template() is write.card_template()  # compiled once


class _HubTemplate:
    """A stand-in for the compiled template that renders with ``DatasetCard.from_template`` instead, given what
    ``card_markdown`` passes it."""

    def __init__(self, rendered: list[str]) -> None:
        self.rendered = rendered

    def render(self, values: dict, card_data: str) -> str:
        from huggingface_hub import DatasetCard, DatasetCardData

        from lvd2m_builder.card.write import TEMPLATE

        data = DatasetCardData(**yaml.safe_load(card_data))
        self.rendered.append(str(DatasetCard.from_template(data, template_str=TEMPLATE.read_text(), **values)))
        return self.rendered[-1]
