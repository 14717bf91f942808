"""Tasks (joint, a2v, v2a): plane masks per stacker, given planes held while sampling (zero-shot
and trained), and the multi-task training loss."""

from __future__ import annotations

import pytest
import torch

import proav_core
from proav_core.errors import UsageError
from proav_core.plugin_manager import read_registry_file
from proav_core.sampling import accepts_given
from proav_core.tasks import TASK_IDS, TASKS, GivenPlanes, get_task, given_mask, modality_masks, plane_value_map, probe_planes
from proav_core.training.generator_loop import FlowModel, flow_model
from proav_core.training.task_mix import TaskMix, plane_stats

from .helpers import TINY, VIDEO_ONLY, random_planes

STACKERS = [name for name in proav_core.get_registry().names("stacker")]


def planes_with(value_of: dict[str, float], shapes=TINY, batch=1):
    return {k: torch.full((batch, *s), value_of.get(k.split("_")[0], 0.0)) for k, s in shapes.items()}


@pytest.mark.parametrize("stacker", STACKERS)
def test_each_task_masks_exactly_its_given_planes(stacker):
    st = proav_core.build("stacker", stacker, plane_shapes=TINY)
    video = st.stack(planes_with({"video": 1.0}))[0] != 0  # positions of real video values
    audio = st.stack(planes_with({"audio": 1.0}))[0] != 0
    assert video.sum() == sum(a * b * c for n, (c, a, b) in TINY.items() if n.startswith("video"))
    assert torch.equal(given_mask(st, TASKS["joint"]), torch.zeros_like(video))
    assert torch.equal(given_mask(st, TASKS["a2v"]), audio)
    assert torch.equal(given_mask(st, TASKS["v2a"]), video)
    assert not (given_mask(st, TASKS["a2v"]) & given_mask(st, TASKS["v2a"])).any()
    padding = st.loss_mask() == 0
    assert not (given_mask(st, TASKS["a2v"]) & padding).any()  # padding is never "given"


@pytest.mark.parametrize("stacker", STACKERS)
def test_plane_value_map_puts_each_planes_value_where_its_values_are(stacker):
    st = proav_core.build("stacker", stacker, plane_shapes=TINY)
    assert {n: tuple(v.shape[1:]) for n, v in probe_planes(st).items()} == {n: tuple(s) for n, s in TINY.items()}
    values = {name: float(i + 1) for i, name in enumerate(TINY)}
    layout = plane_value_map(st, values.__getitem__)  # (*latent_shape)
    assert tuple(layout.shape) == tuple(st.latent_shape)
    back = st.unstack(layout[None])  # each plane unstacks to its own value everywhere
    assert all(bool((back[n] == v).all()) for n, v in values.items())
    real = sum(v.numel() for v in back.values())
    assert int((layout != 0).sum()) == real  # and nothing outside the planes' positions


def test_stack6_masks_are_whole_frames_without_padding():
    st = proav_core.build("stacker", "stack6", plane_shapes=TINY)  # (C, 6, 8, 4): hw planes are 4 x 4
    mask = given_mask(st, TASKS["a2v"])
    assert mask[:, :3].sum() == 0 and mask[:, 3].sum() == 4 * 4 * 4 and mask[:, 4:].all()


def test_a_stackers_own_modality_mask_wins_and_overlap_is_refused():
    class Mixing:
        latent_shape = (2, 3)

        def modality_mask(self, modality):
            return torch.ones(2, 3, dtype=torch.bool)  # both modalities everywhere

    with pytest.raises(UsageError, match="mixes video and audio"):
        modality_masks(Mixing())


def test_a_video_only_latent_cannot_do_a2v_or_v2a():
    st = proav_core.build("stacker", "stack6", plane_shapes=VIDEO_ONLY)
    assert not given_mask(st, TASKS["joint"]).any()
    for task in ("a2v", "v2a"):
        with pytest.raises(UsageError, match=f"--task {task} needs both audio and video planes.*no audio planes"):
            given_mask(st, TASKS[task])


def test_unknown_task_lists_the_known_ones_and_the_closest():
    with pytest.raises(UsageError, match=r"--task: unknown task 'a2b'; known tasks: joint, a2v, v2a; closest: a2v"):
        get_task("a2b", "--task")


# ----------------------------------------------------------------------------- holding given planes


def given_setup(hold, bound=1.0, batch=2):
    st = proav_core.build("stacker", "stack6", plane_shapes=TINY)
    mask = given_mask(st, TASKS["a2v"])
    latent = st.stack(random_planes(TINY, batch=batch, seed=3)) * 0.9  # inside the box
    return st, mask, GivenPlanes(latent, mask, hold, bound)


SAMPLER_CASES = [("reflected_flow", {"method": "euler"}), ("reflected_flow", {"method": "heun"}), ("flow_euler", {}),
                 ("reflected_flow_renoised", {"eta": 0.9})]


def test_the_hold_cases_cover_every_builtin_sampler():
    builtin = set(read_registry_file().builtin)  # a third-party sampler installed here is not ours to list
    names = {spec.name for spec in proav_core.get_registry().specs("sampler") if spec.provider in builtin}
    assert names and {name for name, _ in SAMPLER_CASES} == names


@pytest.mark.parametrize("sampler, params", SAMPLER_CASES)
@pytest.mark.parametrize("hold", ["path", "clean"])
def test_given_planes_come_out_of_every_builtin_sampler_unchanged(sampler, params, hold):
    st, mask, given = given_setup(hold)
    seen = []

    def velocity(x, t, cond):  # an arbitrary field; records what the model is shown
        seen.append((x.clone(), t.clone()))
        return torch.sin(3 * x) + cond.mean() - t.view(-1, 1, 1, 1, 1)

    x0 = torch.randn(2, *st.latent_shape, generator=torch.Generator().manual_seed(1))
    sample = proav_core.build("sampler", sampler, steps=5, latent_bound=1.0, **params)
    cond = torch.ones(2, 1, 8)
    extra = {"given": given} if accepts_given(sample) else {}  # samplers that alter the state put them back
    out = sample(given.bind(velocity, x0), given.start(x0), cond=cond, null_cond=cond * 0, cfg_scale=2.0, **extra)
    # integrated without paste: the held velocity carries the given positions to the given latent
    assert torch.allclose(out[:, mask], given.latent[:, mask], atol=1e-5)
    assert torch.equal(given.paste(out)[:, mask], given.latent[:, mask])
    start = given.start(x0)
    for x, t in seen:  # CFG doubles the batch: both halves are shown the held values
        assert len(x) == 4
        x1, s0, tb = torch.cat([given.latent] * 2), torch.cat([start] * 2), t.view(-1, 1, 1, 1, 1)
        expect = (1 - tb) * s0 + tb * x1 if hold == "path" else x1
        assert torch.allclose(x[:, mask], expect[:, mask], atol=1e-6)
    assert not torch.allclose(out[:, ~mask], start[:, ~mask])  # the rest was generated


def test_path_values_are_reflected_into_the_box_and_start_from_the_folded_noise():
    _, mask, given = given_setup("path", bound=1.0)
    x0 = torch.full((2, *mask.shape), 1.5)  # outside the box: folds to 0.5
    assert torch.allclose(given.value(x0, 0.0), torch.full_like(x0, 0.5))
    assert torch.allclose(given.value(x0, 1.0), given.latent)
    mid = given.value(x0, torch.tensor([0.5, 0.5]))
    assert torch.allclose(mid, 0.5 * 0.5 + 0.5 * given.latent) and mid.abs().max() <= 1.0


def test_given_latent_outside_the_box_is_clamped_and_shapes_are_checked():
    _, mask, _ = given_setup("path")
    g = GivenPlanes(torch.full((1, *mask.shape), 3.0), mask, "clean", bound=2.0)
    assert g.latent.max() == 2.0
    with pytest.raises(ValueError, match="does not fit mask"):
        GivenPlanes(torch.zeros(1, 3), mask)


# ----------------------------------------------------------------------------- multi-task training

CONFIG = {
    "name": "tasks",
    "model": {"stacker": "stack6", "conditioner": {"name": "class_label", "dim": 16},
              "generator": {"name": "stdit", "preset": "tiny", "depth": 1, "hidden": 32}},
    "objective": {"name": "reflected_flow", "cond_dropout": 0.0},
    "sampler": {"name": "reflected_flow", "steps": 4},
}


def multitask(tasks):
    cfg = proav_core.config_from_dict(CONFIG)
    parts = proav_core.build_generation(cfg, TINY, 2.0, ["dog", "drum"])
    return flow_model(parts, tasks), parts.stacker


def test_joint_only_builds_no_task_mix_and_the_config_normalises_probabilities():
    flow, _ = multitask({"joint": 1.0})
    assert flow.tasks is None and flow.trained_tasks == ["joint"]
    cfg = proav_core.config_from_dict({**CONFIG, "train": {"generator": {"tasks": {"v2a": 1, "joint": 3}}}})
    assert cfg.train.generator.tasks == {"joint": 0.75, "v2a": 0.25}
    with pytest.raises(proav_core.ConfigError, match="unknown task 'a2'.*closest: a2v"):
        proav_core.config_from_dict({**CONFIG, "train": {"generator": {"tasks": {"a2": 1}}}})
    with pytest.raises(proav_core.ConfigError, match="positive weight"):
        proav_core.config_from_dict({**CONFIG, "train": {"generator": {"tasks": {"a2v": 0}}}})


def test_task_draw_follows_the_probabilities():
    _, st = multitask(None)
    mix = TaskMix({"joint": 0.5, "a2v": 0.3, "v2a": 0.2}, st, 16)
    torch.manual_seed(0)
    counts = torch.bincount(mix.draw(20000), minlength=3).float() / 20000
    assert torch.allclose(counts, torch.tensor([0.5, 0.3, 0.2]), atol=0.02)
    assert mix.embedding.abs().sum() == 0  # zero-init: a fresh multi-task model starts as a joint one


def test_multitask_loss_sees_given_planes_clean_and_scores_only_generated_planes():
    flow, st = multitask({"a2v": 1.0})  # every item a2v
    x1 = st.stack(random_planes(TINY, batch=3, seed=4))
    seen = {}
    real = flow.generator.forward

    def spy(x, t, cond):
        seen["x"], seen["cond"] = x, cond
        out = real(x, t, cond)
        out.retain_grad()
        seen["out"] = out
        return out

    flow.generator.forward = spy
    flow.tasks.embedding.data.normal_()  # a visible task embedding
    loss = flow(x1, torch.tensor([0, 1, 0]))
    loss.backward()
    audio = given_mask(st, TASKS["a2v"])
    assert torch.equal(seen["x"][:, audio], (x1 * flow.loss_mask)[:, audio])  # given planes enter clean
    assert not torch.allclose(seen["x"][:, ~audio & (flow.loss_mask > 0)], x1[:, ~audio & (flow.loss_mask > 0)])
    grad = seen["out"].grad
    assert grad[:, audio].abs().max() == 0 and grad[:, ~audio & (flow.loss_mask > 0)].abs().max() > 0
    expect_cond = flow.conditioner.from_labels(torch.tensor([0, 1, 0])) + flow.tasks.embedding[1]
    assert torch.allclose(seen["cond"], expect_cond)  # a2v's embedding joins the condition


def test_per_item_masks_average_over_the_scored_positions():
    objective = proav_core.build("objective", "flow", cond_dropout=0.0)
    x1 = torch.zeros(2, 3)
    mask = torch.tensor([[1.0, 0, 0], [1, 1, 1]])
    target = torch.tensor([[1.0, 5, 5], [2, 2, 2]])
    noise = objective.sample_noise((2, 3), generator=torch.Generator().manual_seed(0))  # the loss's own x0 draw

    def model(x, t, c):  # predicts (x1 - x0) + target, so the error at each position is `target`
        return -noise + target

    loss = objective.loss(model, x1, torch.zeros(2, 1, 1), None, mask=mask, generator=torch.Generator().manual_seed(0))
    assert float(loss) == pytest.approx((1 + 4 * 3) / 4)  # 4 scored positions, the 5s ignored


def test_plane_stats_are_max_min_mean_and_std_per_channel():
    plane = torch.tensor([[[[1.0, 3.0], [5.0, 7.0]], [[0.0, 0.0], [0.0, -2.0]]]])  # (1, 2, 2, 2)
    stats = plane_stats(plane)
    assert stats.shape == (1, 8)
    assert torch.allclose(stats[0], torch.tensor([7.0, 0.0, 1.0, -2.0, 4.0, -0.5, 5.0**0.5, 0.75**0.5]))


@pytest.mark.parametrize("stacker", STACKERS)
def test_given_summary_starts_at_zero_and_reads_only_the_given_modality(stacker):
    st = proav_core.build("stacker", stacker, plane_shapes=TINY)
    mix = TaskMix({"joint": 0.5, "a2v": 0.25, "v2a": 0.25}, st, 16, given_summary="plane_stats")
    plain = TaskMix({"joint": 0.5, "a2v": 0.25, "v2a": 0.25}, st, 16)
    planes = random_planes(TINY, batch=3, seed=1)
    x1 = st.stack(planes)
    ids = torch.tensor([TASK_IDS["joint"], TASK_IDS["a2v"], TASK_IDS["v2a"]])
    cond = torch.randn(3, 2, 16)
    assert torch.equal(mix.embed(cond, ids, x1), plain.embed(cond, ids))  # zero-init: changes nothing at first
    for layer in mix.summary.proj.values():
        torch.nn.init.normal_(layer.weight)
    base = mix.embed(cond, ids, x1)
    assert torch.equal(base[0], cond[0])  # joint: nothing given, nothing summarised
    assert torch.equal(mix.embed(cond, ids, None), cond)  # no given latent (zero-shot, joint sampling)
    for changed in ("audio", "video"):
        other = st.stack({k: v * 3 + 1 if k.startswith(changed) else v for k, v in planes.items()})
        moved = (mix.embed(cond, ids, other) - base).abs().amax(dim=(1, 2))  # (3,) per item
        reads = TASK_IDS["a2v"] if changed == "audio" else TASK_IDS["v2a"]
        assert moved[reads] > 0 and moved[TASK_IDS["a2v"] + TASK_IDS["v2a"] - reads] == 0 and moved[0] == 0


def test_given_summary_gets_gradients_through_the_multitask_loss():
    cfg = proav_core.config_from_dict(CONFIG)
    parts = proav_core.build_generation(cfg, TINY, 2.0, ["dog", "drum"])
    flow = flow_model(parts, {"a2v": 0.5, "v2a": 0.5}, given_summary="plane_stats")
    x1 = parts.stacker.stack(random_planes(TINY, batch=4, seed=2))
    torch.manual_seed(0)
    for p in flow.generator.parameters():  # past the zero-init, so the output depends on the condition
        if p.abs().sum() == 0:
            torch.nn.init.normal_(p, std=0.02)
    flow(x1, torch.tensor([0, 1, 0, 1])).backward()
    grads = {m: layer.weight.grad for m, layer in flow.tasks.summary.proj.items()}
    assert set(grads) == {"video", "audio"} and all(g is not None and g.abs().sum() > 0 for g in grads.values())


def test_given_summary_needs_a_conditional_task():
    with pytest.raises(proav_core.ConfigError, match="given_summary = 'plane_stats' summarises the given planes"):
        proav_core.config_from_dict({**CONFIG, "train": {"generator": {"given_summary": "plane_stats"}}})
    with pytest.raises(proav_core.ConfigError, match="given_summary"):
        proav_core.config_from_dict({**CONFIG, "train": {"generator": {"tasks": {"v2a": 1}, "given_summary": "pool"}}})
