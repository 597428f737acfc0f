"""Fetch a trainer package (directory, sdist tarball or zip/wheel; local, file://, https:// or s3://) into a
job's directory and return the directory to put on PYTHONPATH."""

import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import httpx

ARCHIVES = (".tar.gz", ".tgz", ".tar", ".zip", ".whl")


class TrainerError(Exception):
    pass


def local_path(uri: str) -> Path | None:
    """The local path a URI names, None for remote ones."""
    if uri.startswith("file://"):
        return Path(urlparse(uri).path)
    if "://" in uri:
        return None
    return Path(uri)


def fetch(uri: str, dest: Path, module_name: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    path = local_path(uri)
    if path is not None and path.is_dir():
        target = dest / "package"
        shutil.copytree(path, target, dirs_exist_ok=True)
        return _root(target, module_name)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        archive = path if path is not None else _download(uri, Path(tmp))
        if not archive.is_file():
            raise TrainerError(f"trainer_uri {uri!r} does not exist")
        target = dest / "package"
        _extract(archive, target)
    return _root(target, module_name)


def _download(uri: str, tmp: Path) -> Path:
    name = Path(urlparse(uri).path).name or "trainer.tar.gz"
    out = tmp / name
    try:
        if uri.startswith("s3://"):
            import boto3

            parsed = urlparse(uri)
            boto3.client("s3").download_file(parsed.netloc, parsed.path.lstrip("/"), str(out))
        else:
            with httpx.stream("GET", uri, follow_redirects=True, timeout=60) as response:
                response.raise_for_status()
                with out.open("wb") as f:
                    for chunk in response.iter_bytes():
                        f.write(chunk)
    except Exception as exc:  # any transport or S3 failure becomes the job's failure message
        raise TrainerError(f"cannot download trainer_uri {uri!r}: {exc}") from exc
    return out


def _extract(archive: Path, target: Path) -> None:
    name = archive.name
    try:
        if name.endswith((".zip", ".whl")):
            with zipfile.ZipFile(archive) as z:
                for member in z.namelist():
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise TrainerError(f"unsafe path {member!r} in {name}")
                z.extractall(target)
        elif name.endswith(ARCHIVES):
            with tarfile.open(archive) as t:
                t.extractall(target, filter="data")  # refuses absolute paths, '..', devices, links out
        else:
            raise TrainerError(f"trainer_uri must be a directory or one of {', '.join(ARCHIVES)}")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise TrainerError(f"cannot unpack {name}: {exc}") from exc


def _root(target: Path, module_name: str) -> Path:
    """The directory holding the module's top package: the target itself or an sdist's `name-version/`."""
    top = module_name.split(".")[0]
    candidates = [target, *sorted(p for p in target.iterdir() if p.is_dir())]
    for candidate in candidates:
        if (candidate / top).is_dir() or (candidate / f"{top}.py").is_file():
            return candidate
    raise TrainerError(f"module {module_name!r} is not in the trainer package")
