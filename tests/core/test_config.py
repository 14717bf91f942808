"""Configs: extends, --set, unknown keys, component validation, TOML output."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import pytest

import proav_core
from proav_core.config import apply_overrides, config_to_dict, config_to_toml, load_config, parse_value, to_toml
from proav_core.errors import ConfigError, ParameterError, ProavWarning, UnknownComponentError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def write(path, text):
    path.write_text(text)
    return path


def test_load_resolves_components_and_defaults(toy_config_file):
    cfg = proav_core.load_config(toy_config_file)
    ae = cfg.model.autoencoder
    assert ae.name == "toy_ae" and ae.params.channels == 4
    assert ae.params.temporal.name == "toy_attn" and ae.params.temporal.params.heads == 2
    assert ae.params.cross.params.heads == 4  # shorthand default "toy_attn"
    assert cfg.model.generator.params.depth == 3


def test_extends_is_relative_to_the_file_and_merges(tmp_path, toy_config_file):
    sub = tmp_path / "ablations"
    sub.mkdir()
    child = write(sub / "deep.toml", 'extends = "../toy.toml"\n[model.generator]\ndepth = 7\n')
    cfg = proav_core.load_config(child)
    assert cfg.model.generator.params.depth == 7
    assert cfg.model.autoencoder.params.temporal.params.heads == 2  # inherited


def test_extends_chain_and_shorthand_replacement(tmp_path, toy_config_file):
    mid = write(tmp_path / "mid.toml", 'extends = "toy.toml"\nseed = 5\n')
    leaf = write(tmp_path / "leaf.toml", 'extends = "mid.toml"\n[model.autoencoder]\ntemporal = "toy_attn"\n')
    cfg = proav_core.load_config(leaf)
    assert cfg.seed == 5
    # a bare name means {name = ...}: the same component keeps the parent's parameters
    assert cfg.model.autoencoder.params.temporal.params.heads == 2


def test_extends_with_another_component_drops_the_parents_parameters(tmp_path, toy_config_file):
    proav_core.register_component("attention", "other_attn", dict)
    leaf = write(tmp_path / "leaf.toml", 'extends = "toy.toml"\n[model.autoencoder]\ntemporal = "other_attn"\n')
    cfg = proav_core.load_config(leaf)  # heads = 2 would be an unknown key of other_attn
    assert cfg.model.autoencoder.params.temporal.to_dict() == {"name": "other_attn"}


def test_extends_a_list_merges_in_order_and_the_child_wins(tmp_path, toy_config_file):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    write(recipes / "seed.toml", "seed = 5\n[model.generator]\ndepth = 9\n")  # a partial config
    write(recipes / "deeper.toml", "[model.generator]\ndepth = 11\n")
    leaf = write(tmp_path / "leaf.toml", 'extends = ["toy.toml", "recipes/seed.toml", "recipes/deeper.toml"]\n'
                                         'name = "leaf"\n')
    cfg = proav_core.load_config(leaf)
    assert (cfg.name, cfg.seed, cfg.model.generator.params.depth) == ("leaf", 5, 11)  # later files win
    assert cfg.model.autoencoder.params.temporal.params.heads == 2  # from the first
    child = write(tmp_path / "child.toml", 'extends = ["toy.toml", "recipes/deeper.toml"]\n[model.generator]\n'
                                           'depth = 4\n')
    assert proav_core.load_config(child).model.generator.params.depth == 4  # the file's own tables win over all


def test_extends_list_entries_follow_the_component_rule(tmp_path, toy_config_file):
    proav_core.register_component("attention", "other_attn", dict)
    write(tmp_path / "other.toml", '[model.autoencoder]\ntemporal = "other_attn"\n')
    leaf = write(tmp_path / "leaf.toml", 'extends = ["toy.toml", "other.toml"]\n')
    assert proav_core.load_config(leaf).model.autoencoder.params.temporal.to_dict() == {"name": "other_attn"}


@pytest.mark.parametrize("value", ["[]", "3", '["toy.toml", 3]'])
def test_extends_of_the_wrong_type_is_refused(tmp_path, toy_config_file, value):
    bad = write(tmp_path / "bad.toml", f"extends = {value}\n")
    with pytest.raises(ConfigError, match=r"`extends` must be a path string or a non-empty list of them"):
        proav_core.load_config(bad)


def test_missing_file_in_an_extends_list_names_it(tmp_path, toy_config_file):
    child = write(tmp_path / "child.toml", 'extends = ["toy.toml", "recipes/nowhere.toml"]\n')
    with pytest.raises(ConfigError, match=r"config file not found: .*recipes/nowhere\.toml \(extended by .*child\.toml\)"):
        proav_core.load_config(child)


def test_missing_extends_file_names_the_path(tmp_path, toy_plugin):
    child = write(tmp_path / "child.toml", 'extends = "nowhere/base.toml"\n')
    with pytest.raises(ConfigError) as info:
        proav_core.load_config(child)
    assert "config file not found" in str(info.value)
    assert "nowhere/base.toml" in str(info.value) and "child.toml" in str(info.value)


def test_extends_cycle_is_reported(tmp_path, toy_plugin):
    write(tmp_path / "a.toml", 'extends = "b.toml"\n')
    write(tmp_path / "b.toml", 'extends = "a.toml"\n')
    with pytest.raises(ConfigError, match="cycle"):
        proav_core.load_config(tmp_path / "a.toml")


def test_unknown_top_level_and_nested_keys_give_dotted_paths(tmp_path, toy_config_file):
    bad = write(tmp_path / "bad.toml", 'extends = "toy.toml"\n[train.generator]\nstepz = 3\n')
    with pytest.raises(ConfigError, match=r"train\.generator\.stepz: unknown key"):
        proav_core.load_config(bad)
    bad2 = write(tmp_path / "bad2.toml", 'extends = "toy.toml"\n[model.autoencoder.temporal]\nhedas = 3\n')
    with pytest.raises(ParameterError, match=r"model\.autoencoder\.temporal\.hedas: unknown key; closest: 'heads'; "
                                              r"known keys: dropout, heads"):
        proav_core.load_config(bad2)


def test_misspelled_section_names_get_the_closest_one(tmp_path, toy_config_file):
    top = write(tmp_path / "top.toml", 'extends = "toy.toml"\n[modle.generator]\ndepth = 3\n')
    with pytest.raises(ConfigError) as info:
        proav_core.load_config(top)
    assert "modle: unknown key; closest: 'model'; known keys: audio_repr, clip, dataset" in str(info.value)
    nested = write(tmp_path / "nested.toml", 'extends = "toy.toml"\n[train.autoencodr]\nsteps = 3\n')
    with pytest.raises(ConfigError, match=r"train\.autoencodr: unknown key; closest: 'autoencoder'$"):
        proav_core.load_config(nested)
    with pytest.raises(ConfigError, match=r"model\.generater: unknown key; closest: 'generator'"):
        proav_core.load_config(toy_config_file, overrides=["model.generater.depth=3"])
    with pytest.raises(ConfigError) as info:  # nothing alike: no hint, but the keys are listed
        proav_core.load_config(toy_config_file, overrides=["zzzz=3"])
    assert "zzzz: unknown key; known keys: audio_repr" in str(info.value) and "closest" not in str(info.value)


@pytest.mark.parametrize(("override", "expected"), [
    ("clip.height=true", "clip.height: expected an integer, not a boolean (got True)"),
    ("seed=false", "seed: expected an integer, not a boolean (got False)"),
    ("train.generator.optim.lr=true", "train.generator.optim.lr: expected a number, not a boolean (got True)"),
    ("train.generator.optim.betas=[0.9, true]",
     "train.generator.optim.betas: expected a number at [1], not a boolean (got [0.9, True])"),
    ("model.generator.depth=true", "model.generator.depth: expected an integer, not a boolean (got True)"),
    ("model.autoencoder.temporal.dropout=false",
     "model.autoencoder.temporal.dropout: expected a number, not a boolean (got False)"),
])
def test_booleans_where_numbers_are_expected_are_type_errors(toy_config_file, override, expected):
    with pytest.raises(ConfigError) as info:
        proav_core.load_config(toy_config_file, overrides=[override])
    assert expected in str(info.value)
    assert "greater than" not in str(info.value)


def test_booleans_in_a_toml_file_are_type_errors_and_booleans_stay_booleans(tmp_path, toy_config_file):
    bad = write(tmp_path / "bad.toml", 'extends = "toy.toml"\n[clip]\nwidth = true\n')
    with pytest.raises(ConfigError, match=r"clip\.width: expected an integer, not a boolean \(got True\)"):
        proav_core.load_config(bad)
    with pytest.raises(ParameterError, match=r"heads: expected an integer, not a boolean"):
        proav_core.build("attention", "toy_attn", heads=True)
    assert proav_core.build("attention", "toy_attn", heads=3, dropout=1).dropout == 1  # ints still fill floats


def test_hardware_keys_point_to_the_command_line(tmp_path, toy_config_file):
    bad = write(tmp_path / "hw.toml", 'extends = "toy.toml"\n[train]\nprecision = "bf16-mixed"\n')
    with pytest.raises(ConfigError, match=r"train\.precision: unknown key; hardware settings come from the command line"):
        proav_core.load_config(bad)


def test_invalid_parameter_names_path_value_and_expectation(toy_config_file):
    with pytest.raises(ParameterError) as info:
        proav_core.load_config(toy_config_file, overrides=["model.generator.depth=0"])
    msg = str(info.value)
    assert "model.generator.depth" in msg and "(got 0)" in msg and "greater than or equal to 1" in msg
    assert str(toy_config_file) in msg


def test_unknown_component_name_in_config(toy_config_file):
    with pytest.raises(UnknownComponentError) as info:
        proav_core.load_config(toy_config_file, overrides=["model.autoencoder.cross=toy_atn"])
    msg = str(info.value)
    assert "unknown attention 'toy_atn' at model.autoencoder.cross" in msg
    assert "closest: 'toy_attn'" in msg and "known attention components: toy_attn" in msg


@pytest.mark.parametrize(
    "text, value",
    [("4", 4), ("1e-4", 1e-4), ("true", True), ("[1, 2]", [1, 2]), ('"4"', "4"), ("stdit", "stdit"),
     ("{name = 'x', depth = 2}", {"name": "x", "depth": 2}), ("a b", "a b")],
)
def test_set_values_are_parsed_as_toml(text, value):
    assert parse_value(text) == value


def test_set_overrides_nest_and_expand_shorthand():
    tree = {"model": {"autoencoder": {"temporal": "mt"}}}
    out = apply_overrides(tree, ["model.autoencoder.temporal.heads=2", "seed=3", "model.generator.depth=4"])
    assert out == {"model": {"autoencoder": {"temporal": {"name": "mt", "heads": 2}}, "generator": {"depth": 4}}, "seed": 3}
    assert tree == {"model": {"autoencoder": {"temporal": "mt"}}}  # input untouched


def test_set_name_change_drops_old_parameters():
    tree = {"sampler": {"name": "a", "steps": 30}}
    with pytest.warns(ProavWarning, match=r"--set sampler.name=b: the parameters set for 'a' were dropped with it "
                                          r"\(steps = 30\); 'b' takes its defaults for them\. Give any it shares "
                                          r"again after that --set, e.g. --set sampler.steps=\.\.\."):
        assert apply_overrides(tree, ["sampler.name=b"]) == {"sampler": {"name": "b"}}


def test_set_name_change_warns_only_of_what_stays_dropped():
    tree = {"model": {"conditioner": {"name": "class_label", "dim": 32, "extra": {"name": "x"}}}}
    with pytest.warns(ProavWarning, match=r"model.conditioner.name=text: .* \(extra = \{\.\.\.\}\)"):
        out = apply_overrides(tree, ["model.conditioner.name=text", "model.conditioner.dim=32"])
    assert out == {"model": {"conditioner": {"name": "text", "dim": 32}}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing dropped, or the same name again: no warning
        apply_overrides(tree, ["model.conditioner.name=class_label"])
        apply_overrides({"sampler": {"name": "a"}}, ["sampler.name=b"])
        apply_overrides(tree, ["model.conditioner.name=text", "model.conditioner.dim=32",
                               "model.conditioner.extra.name=x"])


def test_set_run_name_keeps_everything_else():
    tree = {"name": "demo", "seed": 1, "sampler": {"name": "a", "steps": 30}}
    assert apply_overrides(tree, ["name=other"]) == {"name": "other", "seed": 1, "sampler": {"name": "a", "steps": 30}}


@pytest.mark.parametrize("bad", ["novalue", "=3", "a..b=1"])
def test_malformed_set(bad):
    with pytest.raises(ConfigError, match="--set expects dotted.key=value"):
        apply_overrides({}, [bad])


def test_set_through_a_value_is_an_error():
    with pytest.raises(ConfigError, match="seed is a value"):
        apply_overrides({"seed": 1}, ["seed.x=2"])


def test_resolved_toml_round_trips_with_all_defaults(toy_config_file):
    cfg = proav_core.load_config(toy_config_file)
    text = config_to_toml(cfg)
    tree = tomllib.loads(text)
    assert tree == config_to_dict(cfg)
    assert tree["model"]["autoencoder"]["cross"] == {"name": "toy_attn", "heads": 4, "dropout": 0.0}
    again = proav_core.config_from_dict(tree)
    assert config_to_dict(again) == tree


def test_to_toml_handles_arrays_of_tables_and_quoting():
    data = {"a": 1, "s": 'quo"te', "weird key": [1.5, float("inf")], "metrics": [{"name": "x", "opt": {"k": 1}}, {"name": "y"}]}
    assert tomllib.loads(to_toml(data)) == data


def test_set_key_default_puts_it_back_to_its_default():
    """`--set KEY=default` unsets an optional key (TOML has no null), e.g. the demo's guide at 1 step."""
    demo = CONFIGS / "demo.toml"
    with pytest.raises(ConfigError, match=r"steps is 1 \(--set train.generator.guide_fraction=default keeps no guide\)$"):
        load_config(demo, overrides=["train.generator.steps=1"])
    cfg = load_config(demo, overrides=["train.generator.steps=1", "train.generator.guide_fraction=default"])
    assert cfg.train.generator.guide_fraction is None and cfg.train.generator.steps == 1
    assert load_config(demo, overrides=["train.generator.ema_decay=default"]).train.generator.ema_decay == \
        type(cfg.train.generator).model_fields["ema_decay"].default
