"""lvd2m preview: the report of a build, checked in the data it embeds, in its thumbnails and in headless Chromium.

The browser tests open the page with Debian's ``chromium`` (--headless, a fresh profile each time), read the DOM
it renders (``--dump-dom``) with and without a filter in the URL fragment, and keep a screenshot in
``artifacts/`` (git-ignored). They skip when chromium is not installed.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from markupsafe import escape
from PIL import Image

from fakes import REPO_ROOT
from fakes.hub_server import HubServer
from fakes.synthetic_dataset import captioned, demo_build, reject, row, write_dataset
from lvd2m_builder.cli import main
from lvd2m_builder.config import BuildConfig
from lvd2m_builder.errors import ConfigError
from lvd2m_builder.media.encode import write_video
from lvd2m_builder.media.sampler import FrameSampler
from lvd2m_builder.media.streams import frame_at
from lvd2m_builder.preview.report import PreviewConfig, preview
from lvd2m_builder.schema import REJECT_FEATURES, ROW_FEATURES
from lvd2m_builder.store.shards import read_table
from lvd2m_builder.testing import samples

ARTIFACTS = REPO_ROOT / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REAL_VIDEOS = ("audrey.mp4", "cockatoo.mp4", "issue-134-rotate.mp4")  # too short, a false cut, rotated
EVIL = '</script><img src=x onerror="document.title=\'pwned\'"> & <b>bold</b>'


# --- helpers -----------------------------------------------------------------------------------------------------

class Dom(HTMLParser):
    """What the tests read from a rendered page: the clip articles (with the images, cut marks, text and caption
    segments inside each), the clip list's data attributes, the body's and the title. A segment holds what follows
    its start up to the next segment or the article's end."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.articles: list[dict] = []
        self.clips: dict = {}
        self.body: dict = {}
        self.title = ""
        self._in_article = self._in_title = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article":
            self._in_article = True
            self.articles.append({**attrs, "imgs": [], "cuts": 0, "text": "", "segments": []})
        elif tag == "body":
            self.body = attrs
        elif tag == "title":
            self._in_title = True
        elif attrs.get("id") == "clips":
            self.clips = attrs
        elif self._in_article and tag == "div" and attrs.get("class") == "segment":
            self.articles[-1]["segments"].append({"imgs": [], "text": ""})
        elif self._in_article and tag == "img":
            self.articles[-1]["imgs"].append(attrs)
            for segment in self.articles[-1]["segments"][-1:]:
                segment["imgs"].append(attrs)
        elif self._in_article and tag == "span" and attrs.get("class") == "cut":
            self.articles[-1]["cuts"] += 1

    def handle_endtag(self, tag):
        self._in_article &= tag != "article"
        self._in_title &= tag != "title"

    def handle_data(self, data):
        if self._in_article:
            self.articles[-1]["text"] += data
            for segment in self.articles[-1]["segments"][-1:]:
                segment["text"] += data
        if self._in_title:
            self.title += data


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium); .ci/run installs it")
    return CHROMIUM


def _chromium(binary: str, page: Path, fragment: str, *flags: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="lvd2m-chromium-") as profile:
        done = subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={profile}", *flags, page.resolve().as_uri() + fragment],
            capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def dump(binary: str, page: Path, fragment: str = "") -> Dom:
    """The DOM after the page's script ran, opened at ``page#fragment``."""
    return Dom(_chromium(binary, page, fragment, "--dump-dom").stdout)


def screenshot(binary: str, page: Path, name: str, fragment: str = "", size: str = "1400,2400") -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.unlink(missing_ok=True)
    _chromium(binary, page, fragment, f"--screenshot={path}", f"--window-size={size}", "--virtual-time-budget=3000")
    print(f"screenshot kept at {path}")
    return path


def embedded(page: Path) -> dict:
    """The clip records the page embeds."""
    text = page.read_text()
    match = re.search(r'<script type="application/json" id="clip-data">(.*?)</script>', text, re.S)
    return json.loads(match.group(1))


def shard_rows(out: Path, pattern: str) -> list[dict]:
    return [r for path in sorted(out.glob(pattern)) for r in read_table(path).to_pylist()]


def decisions(out: Path) -> dict[str, str]:
    """key -> accepted or the stage that rejected it, read from the shards themselves."""
    fates = {r["key"]: "accepted" for r in shard_rows(out, "data/*.parquet")}
    return {**fates, **{r["key"]: r["stage"] for r in shard_rows(out, "rejects/*.parquet")}}


def rows_of(features, rows: list[dict]) -> list[list[dict]]:
    """One shard of ``rows`` with every field of ``features`` present (None where a row does not set it)."""
    return [[{**dict.fromkeys(features), **r} for r in rows]]


def mean_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=float).reshape(-1, 3).mean(axis=0)


# --- the demo build: synthetic clips through the real pipeline ---------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory, clips_dir) -> tuple[Path, Path]:
    out = demo_build(tmp_path_factory, clips_dir)
    page = preview(str(out), tmp_path_factory.mktemp("demo-report"), progress=False)
    return out, page


def test_every_clip_is_embedded_with_its_decision_and_the_funnel(demo):
    out, page = demo
    clips = embedded(page)["clips"]
    assert {c["key"]: c["stage"] for c in clips} == decisions(out)
    rejects = {r["key"]: r for r in shard_rows(out, "rejects/*.parquet")}
    for clip in clips:
        if clip["key"] in rejects:
            assert clip["reason"] == rejects[clip["key"]]["reason"]
            assert clip["cuts"] == pytest.approx(rejects[clip["key"]]["cut_times"])
    stats = json.loads((out / "stats.json").read_text())
    html = page.read_text()
    for step in stats["funnel"]:  # a stage that did not run reads "skipped" with its reason, not "0 rejected"
        middle = f'skipped: {escape(step["skipped"])}' if step.get("skipped") else step["rejected"]
        assert f'<td>{step["in"]}</td><td>{middle}</td><td>{step["out"]}</td>' in html
    assert html.count("data:image/png;base64,") == 2  # duration and flow score: the card's plots (no captions yet)


def test_contact_sheets_are_decoded_across_each_clip(demo, clips_dir):
    out, page = demo
    by_video = {c["video_id"]: c for c in embedded(page)["clips"]}
    for name in ("pan_long_take", "hard_cut", "still_long_take", "short_pan"):
        clip = by_video[name]
        times = [t for t, _ in clip["thumbs"]]
        assert len(times) == 8 and times == sorted(times) and 0 <= times[0] and times[-1] < clip["duration"]
        assert clip["thumb_size"] == [160, 120]  # 320x240 sources, 160 px wide
        for _, rel in clip["thumbs"]:
            assert Image.open(page.parent / rel).size == (160, 120)
    cut = by_video["hard_cut"]  # each thumbnail is the frame PyAV shows at its time, not a neighbour's
    refs = [frame_at(str(clips_dir / cut["url"]), t, (160, 120)).astype(float) for t, _ in cut["thumbs"]]
    thumbs = [np.asarray(Image.open(page.parent / rel).convert("RGB"), dtype=float) for _, rel in cut["thumbs"]]
    differences = np.array([[np.abs(thumb - ref).mean() for ref in refs] for thumb in thumbs])
    assert (differences.argmin(axis=1) == np.arange(8)).all() and differences.diagonal().max() < 15
    at = inspect.signature(samples.hard_cut).parameters["at"].default  # where the demo clip's shots meet
    before = [i for i, (t, _) in enumerate(cut["thumbs"]) if t < at]
    assert 0 < len(before) < 8 and differences[np.ix_(before, range(len(before), 8))].min() > 60  # across the cut
    corrupt = by_video["corrupt"]
    assert corrupt["thumbs"] == [] and "not a readable video" in corrupt["thumb_error"]


def test_browser_shows_every_clip_and_filters_by_stage(demo, chromium):
    out, page = demo
    fates = decisions(out)
    dom = dump(chromium, page)
    assert {a["data-key"]: a["data-stage"] for a in dom.articles} == fates
    for article in dom.articles:
        badge = "accepted" if article["data-stage"] == "accepted" else f"rejected · {article['data-stage']}"
        assert badge in article["text"]
        assert all(img["loading"] == "lazy" and not img["src"].startswith(("http", "/")) for img in article["imgs"])
    by_stage = {a["data-stage"]: a for a in dom.articles}
    assert len(by_stage["accepted"]["imgs"]) == 8 and by_stage["cuts"]["cuts"] == 1
    assert "not a readable video" in by_stage["probe"]["text"] and not by_stage["probe"]["imgs"]
    for stage in ("cuts", "accepted"):
        filtered = dump(chromium, page, f"#stage={stage}")
        assert [a["data-stage"] for a in filtered.articles] == [stage]
        assert filtered.clips["data-matching"] == "1"
    rejected = dump(chromium, page, "#stage=rejected&sort=duration&order=desc")
    assert sorted(a["data-key"] for a in rejected.articles) == sorted(k for k, s in fates.items() if s != "accepted")
    funnel = re.search(r'<section id="funnel">(.*?)</section>', _chromium(chromium, page, "", "--dump-dom").stdout,
                       re.S).group(1)  # a model stage whose weights are absent reads as skipped, with the reason
    assert re.search(r"<td>semantic</td>\s*<td>\d+</td><td>skipped: [^<]*not in the local Hugging Face cache", funnel)
    shot = screenshot(chromium, page, "preview.png")
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (2400, 1400) and pixels.std() > 20  # a page was drawn, not a blank canvas


# --- spans, materialized clips and unreadable sources ------------------------------------------------------------

@pytest.fixture(scope="module")
def red_then_blue(tmp_path_factory) -> Path:
    """10 s at 10 fps: red for the first 5 s, blue for the last 5 s."""
    red, blue = (np.broadcast_to(np.array(c, np.uint8), (48, 64, 3)) for c in ((255, 0, 0), (0, 0, 255)))
    return write_video(tmp_path_factory.mktemp("colours") / "red_then_blue.mp4", [red] * 50 + [blue] * 50, 10)


@pytest.fixture(scope="module")
def spans(tmp_path_factory, red_then_blue) -> tuple[Path, list[int]]:
    """A report over rows with spans, a materialized clip and unreadable sources; and the frames the sampler
    planned to decode (one entry per frame)."""
    tmp = tmp_path_factory.mktemp("spans")
    url = str(red_then_blue)
    halves = [{"start": 0.0, "end": 2.5, "caption": "the first half"}, {"start": 2.5, "end": 5.0, "caption": "the rest"}]
    out = write_dataset(tmp / "ds", rows_of(ROW_FEATURES, [
        row(0, url=url, span_start=5.0, span_end=10.0, duration=5.0, segments=halves, refined_caption="all blue",
            segment_clip_scores=[0.31, 0.12], clip_score=0.25),
        row(1, url=url, span_start=0.0, span_end=5.0, duration=5.0),
        row(2, url="https://www.youtube.com/watch?v=abc", span_start=30.0, span_end=40.0, duration=10.0),
        row(3, url="https://example.invalid/page", duration=10.0),
    ]), rows_of(REJECT_FEATURES, [reject(4, url=str(tmp / "gone.mp4"))]), plots=False)
    (out / "clips").mkdir()
    shutil.copy(red_then_blue, out / "clips" / "clip-0002.mp4")  # what lvd2m materialize leaves for row 2
    planned: list[int] = []
    original = FrameSampler.plan

    def counting(self, clip, tasks):
        indices, wants = original(self, clip, tasks)
        planned.extend(indices.tolist())
        return indices, wants

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FrameSampler, "plan", counting)
        page = preview(str(out), config=PreviewConfig(frames=6, thumb_width=32), progress=False)
    assert page == out / "preview" / "index.html"
    return page, planned


def test_spans_materialized_clips_and_unreadable_sources(spans):
    page, planned = spans
    clips = {c["key"]: c for c in embedded(page)["clips"]}
    colours = {key: [mean_rgb(page.parent / rel) for _, rel in c["thumbs"]] for key, c in clips.items()}
    assert len(colours["clip-0000"]) == 6 and all(b > 150 > r for r, _, b in colours["clip-0000"])  # span: blue half
    assert len(colours["clip-0001"]) == 6 and all(r > 150 > b for r, _, b in colours["clip-0001"])  # red half
    reds = [r > 150 for r, _, _ in colours["clip-0002"]]  # the materialized clip, whole: red then blue
    assert reds == [True] * 3 + [False] * 3
    assert len(planned) == 3 * 6  # only the sheets' frames were decoded, not the clips' 50-100 frames
    assert "not a video file" in clips["clip-0003"]["thumb_error"] and not clips["clip-0003"]["thumbs"]
    assert "no such file" in clips["reject-0004"]["thumb_error"]


def test_segment_captions_sit_beside_the_frames_they_describe(spans, chromium):
    page, _ = spans
    article = next(a for a in dump(chromium, page).articles if a["data-key"] == "clip-0000")
    first, rest = article["segments"]
    assert "0.0 s – 2.5 s · alignment 0.310" in first["text"] and "the first half" in first["text"]
    assert "2.5 s – 5.0 s · alignment 0.120" in rest["text"] and "the rest" in rest["text"]
    thumbs = next(c for c in embedded(page)["clips"] if c["key"] == "clip-0000")["thumbs"]
    assert [img["src"] for img in first["imgs"]] == [rel for t, rel in thumbs if t < 2.5] == [r for _, r in thumbs[:3]]
    assert [img["src"] for img in rest["imgs"]] == [rel for t, rel in thumbs if t >= 2.5]
    assert "caption alignment 0.250" in article["text"] and "all blue" in article["text"]


# --- 10,000 rows ------------------------------------------------------------------------------------------------

def test_ten_thousand_rows_render_one_page_quickly(tmp_path, chromium):
    stages = ("motion", "cuts", "duration")
    accepted = [captioned(i, words=20, duration=10.0 + i % 40) for i in range(7000)]
    accepted[0]["refined_caption"] = EVIL
    rejects = [reject(i, stage=stages[i % 3], duration=5.0 + i % 30,
                      cut_times=[2.5] if stages[i % 3] == "cuts" else []) for i in range(3000)]
    out = write_dataset(tmp_path / "big", rows_of(ROW_FEATURES, accepted), rows_of(REJECT_FEATURES, rejects),
                        plots=False)
    started = time.perf_counter()
    page = preview(str(out), tmp_path / "report", PreviewConfig(thumbs=False), progress=False)
    built = time.perf_counter() - started
    assert len(embedded(page)["clips"]) == 10_000
    started = time.perf_counter()
    dom = dump(chromium, page)
    opened = time.perf_counter() - started
    print(f"10,000 rows: report written in {built:.1f} s ({page.stat().st_size / 1e6:.1f} MB), "
          f"page opened in {opened:.1f} s, first render {dom.body['data-render-ms']} ms")
    assert len(dom.articles) == 50 and dom.clips["data-matching"] == "10000" and dom.clips["data-pages"] == "200"
    assert float(dom.body["data-render-ms"]) < 2000
    assert EVIL.replace("&", "&amp;") not in page.read_text()  # embedded escaped, shown as text, never run
    assert dom.title.startswith("lvd2m preview") and EVIL in dom.articles[0]["text"]
    view = dump(chromium, page, "#stage=cuts&sort=duration&order=desc&page=3")
    assert len(view.articles) == 50 and {a["data-stage"] for a in view.articles} == {"cuts"}
    assert view.clips["data-matching"] == "1000" and view.clips["data-page"] == "3"
    assert all(a["cuts"] == 1 for a in view.articles)
    assert float(view.body["data-render-ms"]) < 2000


# --- the real sample videos --------------------------------------------------------------------------------------

def test_report_of_a_build_over_the_real_sample_videos(tmp_path, shared_videos, chromium):
    from lvd2m_builder.run.build import build

    out = tmp_path / "real"
    build([str(shared_videos / name) for name in REAL_VIDEOS], out, BuildConfig(), overwrite=True, progress=False)
    page = preview(str(out), progress=False)
    fates = decisions(out)
    dom = dump(chromium, page)
    assert {a["data-key"]: a["data-stage"] for a in dom.articles} == fates
    rejects = {r["key"]: r for r in shard_rows(out, "rejects/*.parquet")}
    for article in dom.articles:
        assert len(article["imgs"]) == 8  # every real video decodes
        if article["data-key"] in rejects:
            assert article["cuts"] == len(rejects[article["data-key"]]["cut_times"])
            assert rejects[article["data-key"]]["reason"] in article["text"]
    rotated = next(a for a in dom.articles if "issue-134-rotate" in a["text"])
    assert int(rotated["imgs"][0]["height"]) > int(rotated["imgs"][0]["width"])  # shown as displayed: portrait
    cuts = dump(chromium, page, "#stage=cuts")
    assert {a["data-key"] for a in cuts.articles} == {k for k, s in fates.items() if s == "cuts"}
    screenshot(chromium, page, "preview-real.png", size="1400,2000")


# --- the Hub, the command line and the config ------------------------------------------------------------------

def test_preview_of_a_dataset_streamed_from_the_hub(tmp_path_factory, tmp_path, clips_dir):
    demo = Path(shutil.copytree(demo_build(tmp_path_factory, clips_dir), tmp_path / "lvd2m"))
    token = "hf_alice_secret_token"
    steps = [{"argv": ["push", str(demo), "--repo-id", "alice/lvd2m"]},
             {"argv": ["preview", "alice/lvd2m", "--limit", "2", "--no-progress", "--out", "untrusted"]},
             {"argv": ["preview", "alice/lvd2m", "--limit", "2", "--no-progress", "--sources", str(clips_dir)]}]
    with HubServer(tokens={token: "alice"}) as hub:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HOME=str(tmp_path / "hf-home"), HF_TOKEN=token,
                   HF_DATASETS_CACHE=str(tmp_path / "hf-datasets"), HF_HUB_DISABLE_PROGRESS_BARS="1",
                   NO_PROXY="127.0.0.1", no_proxy="127.0.0.1",
                   PYTHONPATH=os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]))
        code = ("import json, sys\nfrom lvd2m_builder.cli import main\n"
                "for argv in json.loads(sys.argv[1]):\n    assert main(argv) == 0, argv\n")
        done = subprocess.run([sys.executable, "-c", code, json.dumps([s["argv"] for s in steps])], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    page = tmp_path / "alice--lvd2m-preview" / "index.html"
    assert done.stdout.strip().splitlines()[-1] == "alice--lvd2m-preview/index.html"
    clips = embedded(page)["clips"]
    fates = decisions(demo)
    assert len(clips) == 3 and all(fates[c["key"]] == c["stage"] for c in clips)  # 1 accepted + 2 of 4 rejects
    accepted = next(c for c in clips if c["stage"] == "accepted")
    assert len(accepted["thumbs"]) == 8 and (page.parent / accepted["thumbs"][0][1]).is_file()
    assert "At most 2 rows of each config are shown (--limit)." in page.read_text()
    # the repo's rows name files on the machine that built it: without --sources none of them is opened
    untrusted = embedded(tmp_path / "untrusted" / "index.html")["clips"]
    assert len(untrusted) == 3 and all(not c["thumbs"] for c in untrusted)
    assert all("is not a file of alice/lvd2m" in c["thumb_error"] and "--sources" in c["thumb_error"]
               for c in untrusted)


def test_cli_writes_the_report_and_refuses_what_is_no_dataset(demo, tmp_path, capsys):
    out, _ = demo
    assert main(["preview", str(out), "--out", str(tmp_path / "r"), "--no-thumbs", "--page-size", "2",
                 "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "r" / "index.html")
    data = embedded(tmp_path / "r" / "index.html")
    assert data["page_size"] == 2 and all(not c["thumbs"] for c in data["clips"])
    assert main(["preview", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lvd2m preview: ") and "not a dataset" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("field,value", [("frames", 0), ("thumb_width", 8), ("page_size", 0), ("limit", 0),
                                         ("workers", 0)], ids=["frames", "width", "page", "limit", "workers"])
def test_config_refuses_bad_values(field, value):
    with pytest.raises(ConfigError) as error:
        PreviewConfig(**{field: value})
    assert error.value.field == field


def test_a_hub_repo_s_rows_open_only_the_repo_s_files_or_the_named_sources(tmp_path):
    import fsspec

    from lvd2m_builder.preview.origins import Origins
    from lvd2m_builder.store.reader import DatasetSource

    fs = fsspec.filesystem("memory")
    fs.pipe("/datasets/alice/lvd2m@v1/clips/a.mp4", b"")
    repo = DatasetSource(fs=fs, root="datasets/alice/lvd2m@v1", label="alice/lvd2m")
    origins = Origins(repo)
    resolve = lambda url, video_id="v": origins.resolve({"url": url, "video_id": video_id})
    assert resolve("clips/a.mp4") == ("hf://datasets/alice/lvd2m@v1/clips/a.mp4", "")
    fs.rm("/datasets", recursive=True)
    assert resolve("hf://datasets/alice/lvd2m/videos/b.mp4") == ("hf://datasets/alice/lvd2m/videos/b.mp4", "")
    for hostile in ("/etc/passwd", "file:///home/alice/.ssh/id_rsa", "../bob/secret.mp4", "clips/../../x.mp4",
                    "s3://alice-private/raw.mp4", "http://169.254.169.254/latest/meta-data", "http://10.0.0.7/a.mp4",
                    "hf://datasets/mallory/bait/x.mp4", "https://user:pw@cdn.example/x.mp4",
                    "trip/clip.mp4"):  # a build's name relative to its input: no file of the repo
        uri, why = resolve(hostile)
        assert uri is None and "is not a file of alice/lvd2m" in why, hostile
    assert "pw" not in resolve("https://user:pw@cdn.example/x.mp4")[1]
    (tmp_path / "v1.mp4").write_bytes(b"")
    mine = Origins(repo, str(tmp_path))
    assert mine.resolve({"url": "/etc/passwd", "video_id": "v1"}) == (str(tmp_path / "v1.mp4"), "")
    assert Origins().resolve({"url": "/data/own.mp4", "video_id": "x"}) == ("/data/own.mp4", "")  # a local build


def test_what_preview_fetches_is_capped_in_size(tmp_path):
    import fsspec

    from lvd2m_builder.records import Clip, ClipRef
    from lvd2m_builder.stages.fetch import Fetch

    with fsspec.open("memory://lvd2m-cap/big.mp4", "wb") as f:
        f.write(b"\0" * 5000)
    (big,) = Fetch(str(tmp_path), max_bytes=1000)([Clip(ref=ClipRef("memory://lvd2m-cap/big.mp4", "big"))])
    assert big.rejected and "larger than the 1000-byte cap" in big.rejection.reason
    assert list(tmp_path.iterdir()) == []
    (small,) = Fetch(str(tmp_path), max_bytes=5000)([Clip(ref=ClipRef("memory://lvd2m-cap/big.mp4", "big"))])
    assert not small.rejected and Path(small.path).stat().st_size == 5000
    Fetch.release(small)
