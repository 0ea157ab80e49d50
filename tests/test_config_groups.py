"""The Hydra config groups `dvc exp run` composes into params.yaml (conf/, docs/config.md).

Every composition here goes through `dvc.utils.hydra.compose_and_dump`, the function
`dvc exp run` itself calls, and is then read and validated by `dfmask.params` exactly as
a stage reads params.yaml: the typed params stay the one authority on keys and types,
and the groups are only presets over them. The options are found on disk, so a new
option file is covered without touching this test.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from dvc.utils.hydra import compose_and_dump
from dvc.utils.serialize import load_yaml
from repo_utils import REPO, hydra_settings

from dfmask import params as P
from dfmask.errors import DfmaskError

CONF = REPO / hydra_settings()["config_dir"]
CONFIG_NAME = hydra_settings()["config_name"]
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())
OPTIONS = [(group, f.stem) for group in GROUPS for f in sorted((CONF / group).glob("*.yaml"))]


def _compose(out: Path, overrides: list[str], conf: Path = CONF) -> dict[str, Any]:
    """params.yaml as `dvc exp run -S <overrides>` writes it (to ``out``), read back by
    dfmask.params with every section validated."""
    compose_and_dump(out, str(conf), None, CONFIG_NAME, str(REPO), overrides)
    doc = P.read_params_file(out)
    for name, cls in P.SECTIONS.items():
        if name in doc:
            P.load_section(cls, name, out)
    return doc


def _leaves(doc: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value of every leaf (lists are leaves)."""
    if not isinstance(doc, dict):
        return {prefix.rstrip("."): doc}
    return {k: v for key, sub in doc.items() for k, v in _leaves(sub, f"{prefix}{key}.").items()}


def _set_by(group: str, option: str) -> dict[str, Any]:
    """The dotted keys an option file sets, with their values."""
    return _leaves(load_yaml(CONF / group / f"{option}.yaml"))


def test_settings_and_groups_are_wired() -> None:
    settings = hydra_settings()
    assert settings["enabled"] == "true"
    assert (CONF / f"{CONFIG_NAME}.yaml").is_file()
    # the base of the composition is params.yaml itself, not a copy that could drift
    assert (CONF / "params.yaml").is_symlink()
    assert (CONF / "params.yaml").resolve() == (REPO / "params.yaml").resolve()
    assert GROUPS == ["compute", "corpus"]
    assert {o for g, o in OPTIONS if g == "corpus"} >= {"sample", "dfdc", "ffpp", "celebdf"}
    assert {o for g, o in OPTIONS if g == "compute"} == {"auto", "cpu", "gpu", "ray"}


def test_default_composition_is_the_committed_params(tmp_path: Path) -> None:
    """A plain `dvc exp run` (no group chosen) writes params.yaml with the same values,
    keys in the same order, as read by both DVC and dfmask: no stage sees a change."""
    out = tmp_path / "params.yaml"
    doc = _compose(out, [])
    committed = P.read_params_file(REPO / "params.yaml")
    assert doc == committed
    assert list(_leaves(doc)) == list(_leaves(committed))
    assert load_yaml(out) == load_yaml(REPO / "params.yaml")


def test_sample_and_auto_options_are_the_committed_params(tmp_path: Path) -> None:
    """`-S corpus=sample -S compute=auto` switches back to exactly the committed params."""
    doc = _compose(tmp_path / "params.yaml", ["corpus=sample", "compute=auto"])
    assert doc == P.read_params_file(REPO / "params.yaml")


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_validates(tmp_path: Path, group: str, option: str) -> None:
    """Each option composes into a params.yaml every section of which validates, sets
    exactly what its file says, and leaves every other key at its committed value."""
    doc = _leaves(_compose(tmp_path / "params.yaml", [f"{group}={option}"]))
    committed = _leaves(P.read_params_file(REPO / "params.yaml"))
    set_by = _set_by(group, option)
    assert set(set_by) <= set(committed), f"{group}={option} adds keys params.yaml does not have"
    assert doc == committed | set_by


@pytest.mark.parametrize("group", GROUPS)
def test_options_of_a_group_set_the_same_keys(group: str) -> None:
    """Switching option replaces every key the previous one set (none is left over)."""
    keys = {option: sorted(_set_by(group, option)) for g, option in OPTIONS if g == group}
    assert len(set(map(tuple, keys.values()))) == 1, keys


def test_groups_compose_with_a_value_override(tmp_path: Path) -> None:
    """The one-line switch: two groups and a plain key together."""
    doc = _compose(tmp_path / "params.yaml", ["corpus=ffpp", "compute=gpu", "train.lr=0.003"])
    assert (doc["corpus"]["kind"], doc["faces"]["device"], doc["train"]["accelerator"]) == ("ffpp", "cuda", "gpu")
    assert doc["train"]["lr"] == 0.003
    # a key of a group's preset given too wins over the preset, whatever the order
    doc = _compose(tmp_path / "params.yaml", ["corpus.root=/mnt/dfdc", "corpus=dfdc"])
    assert (doc["corpus"]["kind"], doc["corpus"]["root"]) == ("dfdc", "/mnt/dfdc")
    assert doc["compute"]["executor"] == "local"


def test_a_wrong_key_in_an_option_fails_with_its_full_name(tmp_path: Path) -> None:
    """Hydra does not know the schema: a misspelt key in an option composes, and
    dfmask.params refuses it by its full name, as for a hand-edited params.yaml."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf, symlinks=False)
    (conf / "corpus" / "typo.yaml").write_text("# @package _global_\ncorpus:\n  knd: ffpp\n")
    with pytest.raises(DfmaskError, match=r"params: corpus\.knd: unknown key.*did you mean 'kind'"):
        _compose(tmp_path / "params.yaml", ["corpus=typo"], conf)


def test_a_wrong_value_fails_with_its_full_name(tmp_path: Path) -> None:
    with pytest.raises(DfmaskError, match=r"params: corpus\.kind: expected 'dfdc' \| 'ffpp'"):
        _compose(tmp_path / "params.yaml", ["corpus.kind=ff++"])
    with pytest.raises(DfmaskError, match=r"params: train\.lr: expected float, got str 'fast'"):
        _compose(tmp_path / "params.yaml", ["train.lr=fast"])


def test_an_unknown_key_or_option_on_the_command_line_is_refused(tmp_path: Path) -> None:
    """Hydra itself refuses `-S train.lrr=...` (no such key) and `-S corpus=ffpq`."""
    from hydra.errors import ConfigCompositionException, MissingConfigException

    with pytest.raises(ConfigCompositionException, match="train.lrr"):
        _compose(tmp_path / "params.yaml", ["train.lrr=0.1"])
    with pytest.raises(MissingConfigException, match="ffpq"):
        _compose(tmp_path / "params.yaml", ["corpus=ffpq"])


#: A one-stage pipeline that echoes the keys the groups set (plus train.lr), so a switch
#: is seen in the stage's output, not only in params.yaml.
SHOW_STAGE = """\
stages:
  show:
    cmd: >-
      echo ${corpus.kind} ${corpus.root} ${faces.device} ${train.accelerator}
      ${compute.executor} ${train.lr} > show.txt
    params: [corpus.kind, corpus.root, corpus.parts, faces.device, train.accelerator, compute.executor, train.lr]
    outs: [show.txt]
"""


@pytest.mark.slow
def test_dvc_exp_run_switches_groups_in_a_real_repo(tmp_path: Path) -> None:
    """In a git + DVC repo with this project's params.yaml, conf/ and .dvc/config hydra
    settings: a plain `dvc exp run` changes no value, `-S corpus=... -S compute=...`
    switches presets, `-S train.lr=...` still works, and `dvc repro` does not compose."""
    from repo_utils import enable_hydra, run

    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy2(REPO / "params.yaml", repo / "params.yaml")
    (repo / "dvc.yaml").write_text(SHOW_STAGE)
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "config", "user.email", "ci@dfmask.test"], repo)
    run(["git", "config", "user.name", "dfmask tests"], repo)
    run(["dvc", "init", "-q"], repo)
    enable_hydra(repo)
    run(["dvc", "repro", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "show"], repo)
    committed_text = (repo / "params.yaml").read_bytes()
    committed = P.read_params_file(repo / "params.yaml")

    def show() -> str:
        return (repo / "show.txt").read_text().strip()

    assert show() == "dfdc data/sample/corpus auto auto local 0.002"

    # no group chosen: DVC rewrites params.yaml (Hydra's plain YAML, without comments)
    # with the same values, so the stage is not re-run
    run(["dvc", "exp", "run", "-q"], repo)
    assert P.read_params_file(repo / "params.yaml") == committed
    assert (repo / "params.yaml").read_bytes() != committed_text
    assert "up to date" in run(["dvc", "status"], repo).stdout

    run(["dvc", "exp", "run", "-q", "-S", "corpus=ffpp", "-S", "compute=gpu"], repo)
    assert show() == "ffpp /data/ffpp cuda gpu local 0.002"
    assert P.read_params_file(repo / "params.yaml")["corpus"]["parts"] == [0]

    # a plain key on top; the workspace's params.yaml keeps the ffpp preset
    run(["dvc", "exp", "run", "-q", "-S", "train.lr=0.003"], repo)
    assert show() == "ffpp /data/ffpp cuda gpu local 0.003"

    run(["dvc", "exp", "run", "-q", "-S", "corpus=sample", "-S", "compute=ray"], repo)
    assert show() == "dfdc data/sample/corpus auto auto ray 0.003"

    run(["dvc", "exp", "run", "-q", "-S", "compute=auto"], repo)
    assert P.read_params_file(repo / "params.yaml") == committed | {"train": committed["train"] | {"lr": 0.003}}

    # dvc repro reads params.yaml as it is: it composes nothing and rewrites nothing
    run(["git", "checkout", "params.yaml"], repo)
    run(["dvc", "repro", "-q"], repo)
    assert show() == "dfdc data/sample/corpus auto auto local 0.002"
    assert (repo / "params.yaml").read_bytes() == committed_text

    # --no-hydra: -S edits params.yaml in place and keeps its comments (no groups then)
    run(["dvc", "exp", "run", "-q", "--no-hydra", "-S", "train.lr=0.004"], repo)
    assert show() == "dfdc data/sample/corpus auto auto local 0.004"
    text = (repo / "params.yaml").read_text()
    assert text.startswith("# dfmask params.") and "lr: 0.004" in text
