"""The run cache of the experiment notebooks: keys, stale-schema lookup, refusal to train."""
import pytest
import torch

from csa_nb.config import config_to_dict
from csa_nb.experiments import NotTrainedError, config_key, experiment_config, find_run, trained_model
from csa_nb.train import CHECKPOINT_FORMAT


def fake_run(folder, config_dict, step):
    "A run folder whose last.pt is a valid (if weightless) checkpoint with the given stored config."
    folder.mkdir(parents=True)
    torch.save({"format": CHECKPOINT_FORMAT, "config": config_dict, "step": step, "model": {}, "optimizers": {},
                "rng": {}, "vgg_weights": "random"}, folder / "last.pt")
    return folder


def test_bookkeeping_fields_do_not_change_the_key():
    config = experiment_config("smoke", "", "celeba")
    busy = experiment_config("smoke", "", "celeba", {"train": {"threads": 1, "log_every": 3}, "data": {"num_workers": 2}})
    other = experiment_config("smoke", "", "celeba", {"train": {"seed": 1}})
    assert config_key(config) == config_key(busy) != config_key(other)


def test_resume_and_run_cache_read_one_list():
    "What a resumed run may change is the run cache's bookkeeping plus a longer run and moved data (csa_nb.config)."
    from csa_nb.config import BOOKKEEPING_SETTINGS, RESUMABLE_SETTINGS
    from csa_nb.train import resume_config
    assert set(RESUMABLE_SETTINGS) == set(BOOKKEEPING_SETTINGS) | {"train.steps", "data.root"}
    saved = experiment_config("smoke", "", "celeba")
    for setting in RESUMABLE_SETTINGS:  # each may change on resume; a bookkeeping one leaves the run's key alone
        section, name = setting.split(".")
        changed = experiment_config("smoke", "", "celeba")
        value = getattr(getattr(saved, section), name)
        setattr(getattr(changed, section), name, "elsewhere" if value is None or isinstance(value, str) else value + 1)
        assert getattr(getattr(resume_config(saved, changed), section), name) != value, setting
        assert setting not in BOOKKEEPING_SETTINGS or config_key(changed) == config_key(saved), setting
    changed = experiment_config("smoke", "", "celeba", {"train": {"seed": 1}})
    with pytest.raises(ValueError, match="train.seed"):
        resume_config(saved, changed)


def test_keys_of_existing_runs_stay():
    """Cached runs are found by these keys: a change here must be on purpose (then say so: the cache rebuilds).
    Last changed on purpose by the cpu profile's shorter schedule, 800 warm-up + 200 full-objective steps shared through
    warm-up runs (cpu conv 4eba50d4ab -> e154aa3038; every cpu run retrains), before that by the cpu recipe's learned
    harmonic/biharmonic blend and known-pixel statistics (cpu conv 9ae1d3d15e -> 4eba50d4ab), before that by the cpu recipe (harmonic first guess, residual
    networks, warm-up, batch 4: cpu conv 2e5b272abf -> 9ae1d3d15e), before that by the precision / warm-up fields
    (smoke e1efbf3661 -> 9b6ce68f79, cpu conv f3d4eeddba -> 2e5b272abf)."""
    assert config_key(experiment_config("smoke", "", "celeba")) == "9b6ce68f79"
    assert config_key(experiment_config("cpu", "", "places2-butte", {"model": {"middle": "conv"}})) == "e154aa3038"


def test_a_run_written_before_a_field_was_added_is_found(tmp_path):
    config = experiment_config("smoke", "", "celeba")
    stored = config_to_dict(config)
    stored["model"].pop("similarity")  # as if the run predates this field; today's default fills it in
    run = fake_run(tmp_path / "csa-0123456789", stored, config.train.steps)
    assert find_run("csa", config, tmp_path) == run
    assert trained_model("csa", config, tmp_path, train=False) == run / "last.pt"
    changed = experiment_config("smoke", "", "celeba", {"model": {"similarity": "official"}})
    assert find_run("csa", changed, tmp_path) is None  # a real difference is not matched
    assert find_run("ca", config, tmp_path) is None  # nor another model's name


def test_a_run_is_found_by_its_config_yaml(tmp_path):
    "find_run reads config.yaml first (cheap), with today's defaults filling in fields it lacks."
    import yaml
    config = experiment_config("smoke", "", "celeba", {"model": {"middle": "conv"}})
    stored = config_to_dict(config)
    stored["train"].pop("finetune_lr")
    run = fake_run(tmp_path / "csa-old-scheme", {"broken": True}, config.train.steps)  # the checkpoint's config is not read
    (run / "config.yaml").write_text(yaml.safe_dump(stored))
    assert find_run("csa", config, tmp_path) == run
    assert find_run("csa", experiment_config("smoke", "", "celeba"), tmp_path) is None


def test_keys_ignore_defaults_so_new_fields_keep_them():
    "Only settings that differ from ExperimentConfig()'s defaults enter the key."
    config = experiment_config("smoke", "", "celeba")
    explicit = experiment_config("smoke", "", "celeba", {"train": {"finetune_step": 0, "finetune_lr": 5e-5}})
    assert config_key(config) == config_key(explicit)
    assert config_key(config) != config_key(experiment_config("smoke", "", "celeba", {"train": {"finetune_step": 1}}))


def test_unfinished_or_missing_runs_are_refused_without_training(tmp_path):
    config = experiment_config("smoke", "", "celeba")
    with pytest.raises(NotTrainedError, match="not trained in this run"):
        trained_model("csa", config, tmp_path, train=False)
    fake_run(tmp_path / f"csa-{config_key(config)}", config_to_dict(config), config.train.steps - 1)
    with pytest.raises(NotTrainedError, match=f"csa-{config_key(config)}"):
        trained_model("csa", config, tmp_path, train=False)


def _hand_made_table8(out, l1_shift, psnr_noise, n=30, seed=0):
    "tables/table8.csv and table8_per_image.csv: With L_c's L1 moved by `l1_shift` per image, its PSNR by noise of std `psnr_noise`."
    import numpy as np
    import pandas as pd
    from csa_nb.experiments import per_image_path
    rng = np.random.default_rng(seed)
    l1, psnr, noise = rng.uniform(1, 3, n), rng.uniform(20, 30, n), rng.normal(0, psnr_noise, n)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"method": ["With L_c"] * n + ["No L_c"] * n, "image": [*range(n)] * 2, "mask": 0, "bin": "centre",
                  "l1_percent": [*(l1 + l1_shift), *l1], "psnr": [*(psnr + noise - noise.mean()), *psnr]}
                 ).to_csv(per_image_path(out, "table8"), index=False)
    pd.DataFrame({"method": ["No L_c", "With L_c"], "mask": "centre"}).to_csv(out / "tables" / "table8.csv", index=False)


def test_claims_of_a_hand_made_table_get_the_expected_verdicts(tmp_path):
    "Lower L1 on every image: reproduced; PSNR moved by noise around zero: inconclusive; higher L1: contradicted."
    from csa_nb.experiments import CLAIMS, claim_verdicts
    consistency = [c for c in CLAIMS if c.table == "table8"]
    _hand_made_table8(tmp_path / "better", -0.1, 0.5)
    verdicts = claim_verdicts(consistency, tmp_path / "better").set_index("metric")
    assert verdicts.loc["L1 %", "verdict"] == "reproduced"
    assert abs(verdicts.loc["L1 %", "ours: difference"] + 0.1) < 1e-9
    assert verdicts.loc["PSNR", "verdict"] == "inconclusive at this scale"  # its interval straddles zero
    low, high = (float(x) for x in verdicts.loc["PSNR", "ours: 95% CI"].strip("[]").split(","))
    assert low < 0 < high
    _hand_made_table8(tmp_path / "worse", +0.1, 0.5)
    assert claim_verdicts(consistency, tmp_path / "worse").set_index("metric").loc["L1 %", "verdict"] == "contradicted"


def test_claims_without_per_image_scores_fall_back_and_say_so(tmp_path):
    "A table written before per-image scores were saved: unpaired intervals, and the caption asks for the tables re-run."
    import pandas as pd
    from csa_nb.experiments import CLAIMS, claim_verdicts, claims_caption
    (tmp_path / "tables").mkdir()
    pd.DataFrame({"method": ["CA", "SH", "CSA"], "mask": "centre", "L1 % (ours)": [3.0, 2.45, 2.4],
                  "L1 % 95% CI (ours)": ["[2.900, 3.100]", "[2.350, 2.550]", "[2.300, 2.500]"]}).to_csv(tmp_path / "tables" / "table1.csv", index=False)
    verdicts = claim_verdicts([c for c in CLAIMS if c.table == "table1" and c.metric == "L1 %"], tmp_path).set_index("claim")
    assert verdicts["paired over"].tolist() == ["unpaired (approx.)"] * 2
    assert verdicts["verdict"].tolist() == ["reproduced", "inconclusive at this scale"]
    assert "Needs the tables re-run with per-image scores" in claims_caption(verdicts.reset_index(), tmp_path)
    missing = claim_verdicts([c for c in CLAIMS if c.table == "table2"], tmp_path)
    assert set(missing["verdict"]) == {"not measured"} and set(missing["paired over"]) == {"table not generated"}


@pytest.mark.parametrize("profile", ["smoke", "cpu"])
def test_every_table_runs_its_rows_on_one_recipe(profile):
    "Issue 30: the rows of a table share data, masks, steps, warm-up, batch, lr, seed and the first-guess switches their generators run with."
    from csa_nb.experiments import FIRST_GUESS_SWITCHES, TABLES, first_guess_switches, table_configs
    from csa_nb.train import config_changes
    for spec in TABLES.values():
        configs = list(table_configs(spec, profile).values())
        assert all(first_guess_switches(c) == first_guess_switches(configs[0]) for c in configs), spec.name
        assert set(first_guess_switches(configs[0])) == set(FIRST_GUESS_SWITCHES)
        for config in configs[1:]:  # the rows differ only in what the table compares
            changed = {k.split(".")[0] + "." + k.split(".")[1] for k in config_changes(configs[0], config)}
            assert not {k for k in changed if k.startswith(("data.", "masks.", "train."))}, (spec.name, changed)
            assert not changed & set(FIRST_GUESS_SWITCHES), (spec.name, changed)
    baselines = table_configs(TABLES["table1"], profile)
    assert baselines["CSA"].model.hole_fill == baselines["CA"].model.hole_fill == "imagenet-mean"
    assert not baselines["CSA"].model.residual and not baselines["CSA"].model.normalize_input
