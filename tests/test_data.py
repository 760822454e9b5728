"""Checks of csa_nb.data beyond the notebook's examples: many corrupt files, DataLoader batches, EXIF, profiles."""
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from csa_nb.config import DataConfig, make_config
from csa_nb.data import (CorruptImageWarning, DatasetError, DatasetNotFoundError, ImageFolderDataset,
                         build_dataset, builtin_dataset, celeba_dataset, load_image, places2_dataset)


def write(path, size=(12, 10), colour=(10, 200, 30), mode="RGB", **save):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path, **save)
    return path


def test_many_corrupt_files_are_counted_and_reported_ten_times(tmp_path):
    for i in range(15):
        (tmp_path / f"{i:02d}_bad.jpg").write_bytes(b"\xff\xd8 broken")
    write(tmp_path / "99_good.png", colour=(0, 255, 0))
    dataset = ImageFolderDataset(tmp_path, 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = dataset[0]
    assert dataset.skipped == 15
    assert len([w for w in caught if w.category is CorruptImageWarning]) == 11  # ten named, one summary
    assert "further ones are only counted" in str(caught[-1].message)
    assert torch.equal(first, dataset[15])  # the substitute is the good file
    assert first[:, 0, 0].tolist() == [-1.0, 1.0, -1.0]


def test_a_wrong_folder_of_non_images_stops_after_100_in_a_row(tmp_path):
    for i in range(101):
        (tmp_path / f"{i:03d}.png").write_bytes(b"")
    write(tmp_path / "zzz.png")
    dataset = ImageFolderDataset(tmp_path, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DatasetError, match="100 unreadable images in a row"):
            dataset[0]


def test_99_bad_files_in_a_row_are_still_skipped(tmp_path):
    for i in range(99):
        (tmp_path / f"{i:03d}.png").write_bytes(b"")
    write(tmp_path / "zzz.png")
    dataset = ImageFolderDataset(tmp_path, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert dataset[0].shape == (3, 8, 8)
    assert dataset.skipped == 99


def test_missing_list_entries_are_skipped_like_corrupt_files(tmp_path):
    write(tmp_path / "a.png"), write(tmp_path / "c.png")
    dataset = ImageFolderDataset(tmp_path, 8, files=["a.png", "b.png", "c.png"])
    with pytest.warns(CorruptImageWarning, match="b.png"):
        assert torch.equal(dataset[1], dataset[2])
    assert dataset.bad_files == ["b.png"]


def test_dataloader_batches_with_corrupt_files(tmp_path):
    for i in range(5):
        write(tmp_path / f"{i}.webp", size=(30, 20), colour=(50 * i, 0, 0), format="WEBP", lossless=True)
    (tmp_path / "2.webp").write_bytes(b"RIFF")
    loader = DataLoader(ImageFolderDataset(tmp_path, 16, resize="center-crop"), batch_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptImageWarning)
        batches = list(loader)
    assert [tuple(b.shape) for b in batches] == [(2, 3, 16, 16), (2, 3, 16, 16), (1, 3, 16, 16)]
    reds = torch.cat(batches)[:, 0, 8, 8]
    np.testing.assert_allclose(reds.numpy(), np.array([0, 50, 150, 150, 200]) / 127.5 - 1, atol=1e-6)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image.save(tmp_path / "phone.jpg", exif=exif.tobytes())
    assert Image.open(tmp_path / "phone.jpg").size == (40, 20)
    assert load_image(tmp_path / "phone.jpg").size == (20, 40)


def test_builtin_batches_for_the_profiles():
    for profile, size in [("smoke", 64), ("cpu", 128)]:
        config = make_config(profile)
        assert config.data.dataset == "builtin" and config.data.image_size == size
        train, test = build_dataset(config.data, "train"), build_dataset(config.data, "test")
        batch = next(iter(DataLoader(train, batch_size=3, shuffle=True)))
        assert batch.shape == (3, 3, size, size) and batch.dtype == torch.float32
        assert -1 <= batch.min() and batch.max() <= 1
        assert {t.name for t in train.tiles}.isdisjoint({t.name for t in test.tiles})


def test_builtin_crops_do_not_depend_on_the_process():
    first, second = builtin_dataset("test", 128), builtin_dataset("test", 128)
    assert first.tiles == second.tiles
    assert all(torch.equal(first[i], second[i]) for i in range(0, len(first), 7))


def test_places2_bare_tree_keeps_val_and_test_out_of_train(tmp_path):
    write(tmp_path / "butte" / "1.jpg"), write(tmp_path / "canyon" / "1.jpg")
    write(tmp_path / "val" / "butte" / "1.jpg"), write(tmp_path / "test" / "x.jpg")
    assert places2_dataset(tmp_path, "train", None, 8).files == ["butte/1.jpg", "canyon/1.jpg"]
    assert places2_dataset(tmp_path, "train", ["canyon"], 8).files == ["canyon/1.jpg"]


def test_errors_name_the_path(tmp_path):
    missing = tmp_path / "no" / "such" / "celeba"
    with pytest.raises(DatasetNotFoundError, match=str(missing)):
        celeba_dataset(missing, "train")
    with pytest.raises(FileNotFoundError):
        build_dataset(DataConfig(dataset="paris", root=str(missing)), "test")
    (tmp_path / "img_align_celeba").mkdir()
    with pytest.raises(DatasetNotFoundError, match="list_eval_partition.txt"):
        celeba_dataset(tmp_path, "val")


def load_script(name):
    "Import data/<name>.py (the optional scripts are not part of the package)."
    import importlib.util
    path = Path(__file__).resolve().parents[1] / "data" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prepare_places2_extracts_only_the_categories(tmp_path, capsys):
    import tarfile
    source = tmp_path / "source"
    for category in ["b/butte", "c/canyon", "a/abbey"]:
        for i in range(2):
            write(source / "data_256" / category / f"{i:08d}.jpg")
    for i in range(4):
        write(source / "val_256" / f"Places365_val_{i + 1:08d}.jpg")
    (source / "meta").mkdir()
    (source / "meta" / "categories_places365.txt").write_text("/a/abbey 0\n/b/butte 1\n/c/canyon 2\n")
    (source / "meta" / "places365_val.txt").write_text(
        "Places365_val_00000001.jpg 1\nPlaces365_val_00000002.jpg 0\nPlaces365_val_00000003.jpg 2\nPlaces365_val_00000004.jpg 1\n")
    for name, folder in [("train.tar", "data_256"), ("val.tar", "val_256"), ("filelist.tar", "meta")]:
        with tarfile.open(tmp_path / name, "w") as archive:
            archive.add(source / folder, arcname=folder if folder != "meta" else ".")
    out = tmp_path / "places2"
    script = load_script("prepare_places2")
    assert script.main(["--out", str(out), "--categories", "butte", "canyon", "--train-tar", str(tmp_path / "train.tar"),
                        "--val-tar", str(tmp_path / "val.tar"), "--filelist", str(tmp_path / "filelist.tar")]) == 0
    assert "train: 4 images" in capsys.readouterr().out
    assert places2_dataset(out, "train", ["butte"], 8).files == ["b/butte/00000000.jpg", "b/butte/00000001.jpg"]
    assert not (out / "data_256" / "a").exists()
    assert places2_dataset(out, "val", ["butte"], 8).files == ["Places365_val_00000001.jpg", "Places365_val_00000004.jpg"]
    assert sorted(p.name for p in (out / "val_256").iterdir()) == [f"Places365_val_{i:08d}.jpg" for i in (1, 3, 4)]
    with pytest.raises(SystemExit, match="unknown categories glacier"):
        script.main(["--out", str(out), "--categories", "glacier", "--val-tar", str(tmp_path / "val.tar"),
                     "--filelist", str(source / "meta")])


def test_check_dataset_reports_splits_and_unreadable_files(tmp_path, capsys):
    for i, part in enumerate([0, 0, 1, 2]):
        write(tmp_path / "img_align_celeba" / f"{i + 1:06d}.jpg")
    (tmp_path / "list_eval_partition.txt").write_text("".join(f"{i + 1:06d}.jpg {p}\n" for i, p in enumerate([0, 0, 1, 2])))
    script = load_script("check_dataset")
    assert script.main([str(tmp_path), "--decode"]) == 0
    report = capsys.readouterr().out
    assert "celeba layout" in report and "train: 2 images" in report and "0 of 1 files unreadable" in report
    (tmp_path / "img_align_celeba" / "000002.jpg").write_bytes(b"cut")
    assert script.main([str(tmp_path), "--decode"]) == 1
    assert "unreadable: 000002.jpg" in capsys.readouterr().out
    assert script.main([str(tmp_path / "missing")]) == 1


def test_datasets_pickle_and_work_in_dataloader_workers(tmp_path):
    import pickle
    for i in range(6):
        write(tmp_path / f"{i}.png", colour=(40 * i, 0, 0))
    (tmp_path / "3.png").write_bytes(b"")
    folder = ImageFolderDataset(tmp_path, 8)
    builtin = builtin_dataset("test", 64)
    for dataset in (folder, builtin):  # spawn-started workers receive a pickled copy
        copy = pickle.loads(pickle.dumps(dataset))
        assert len(copy) == len(dataset) and torch.equal(copy[0], dataset[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptImageWarning)
        in_workers = torch.cat(list(DataLoader(folder, batch_size=2, num_workers=2)))
        in_process = torch.stack([folder[i] for i in range(len(folder))])
    assert torch.equal(in_workers, in_process)
    assert in_workers[3, 0, 0, 0] == in_workers[4, 0, 0, 0]  # the empty file was replaced by the next one
