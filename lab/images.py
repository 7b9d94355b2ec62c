"""The lab's images, built here: there is no image registry to pull from.

`base` is Debian bookworm made with debootstrap and `docker import`; the others
are Dockerfiles under `lab/images/` built on it. Each image carries a label with
the hash of what it was built from, so `up` rebuilds only what changed and a
second `up` builds nothing. Images are shared by every lab on the machine and
`down` keeps them (they are a cache, not state).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lab.engine import LabError, docker, ensure_debootstrap, run
from lab.lock import locked
from lab.progress import step

IMAGES_DIR = Path(__file__).resolve().parent / "images"
PREFIX = "imgcloud-lab"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE = f"{PREFIX}/base:{SUITE}"
HASH_LABEL = "org.imgcloud.lab.source-hash"
_BUILD_LOCK = Path.home() / ".cache" / "imgcloud" / "lab-images.lock"

_SOURCES = f"""\
Types: deb
URIs: {MIRROR}
Suites: {SUITE} {SUITE}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: {SUITE}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
# Small images, like Debian's cloud images: no recommends, no docs.
_APT_CONF = 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
_DPKG_NODOC = "path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\n" + (
    "path-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\n"
)


@dataclass(frozen=True)
class Image:
    kind: str  # folder under lab/images/
    parent: str
    extra_files: tuple[tuple[Path, str], ...] = ()  # (source, name in the build context)

    @property
    def tag(self) -> str:
        return f"{PREFIX}/{self.kind}:{SUITE}"


def machine_images() -> list[Image]:
    """The images that need nothing but this folder, in build order."""
    systemd = Image("systemd", BASE)
    return [systemd, Image("bastion", BASE), Image("vm", systemd.tag)]


def provider_image(minio: Path, toxiproxy: Path) -> Image:
    extra = ((minio, "minio"), (toxiproxy, "toxiproxy-server"))
    return Image("provider", f"{PREFIX}/systemd:{SUITE}", extra)


def _label(tag: str) -> str | None:
    out = docker(
        "image",
        "inspect",
        "--format",
        f'{{{{index .Config.Labels "{HASH_LABEL}"}}}}',
        tag,
        check=False,
    )
    return out or None


def image_id(tag: str) -> str | None:
    return docker("image", "inspect", "--format", "{{.Id}}", tag, check=False) or None


def _source_hash(image: Image) -> str:
    digest = hashlib.sha256()
    digest.update((image_id(image.parent) or "").encode())
    for path in sorted((IMAGES_DIR / image.kind).iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for path, name in image.extra_files:
        stat = path.stat()
        digest.update(f"{name}:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def ensure_base() -> None:
    """debootstrap bookworm and import it, unless the image is already here."""
    if image_id(BASE):
        return
    debootstrap = ensure_debootstrap()
    with (
        step(f"building {BASE} with debootstrap (once)"),
        tempfile.TemporaryDirectory(prefix="imgcloud-lab-rootfs-") as tmp,
    ):
        root = Path(tmp) / "rootfs"
        run([debootstrap, "--variant=minbase", SUITE, str(root), MIRROR], timeout=1800)
        (root / "etc/apt/sources.list").unlink(missing_ok=True)
        (root / "etc/apt/sources.list.d/debian.sources").write_text(_SOURCES)
        (root / "etc/apt/apt.conf.d/90lab-no-recommends").write_text(_APT_CONF)
        (root / "etc/dpkg/dpkg.cfg.d/90lab-nodoc").write_text(_DPKG_NODOC)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (root / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["docker", "import", "--change", 'CMD ["/bin/bash"]', "-", BASE],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise LabError(f"docker import of the base image failed: {imported.stderr.strip()}")


def ensure_image(image: Image) -> bool:
    """Build `image` when its sources changed; return whether it was built."""
    wanted = _source_hash(image)
    if _label(image.tag) == wanted:
        return False
    with (
        step(f"building {image.tag}"),
        tempfile.TemporaryDirectory(prefix="imgcloud-lab-ctx-") as tmp,
    ):
        context = Path(tmp)
        shutil.copytree(IMAGES_DIR / image.kind, context, dirs_exist_ok=True)
        for path, name in image.extra_files:
            shutil.copy2(path, context / name)
        run(
            [
                "docker",
                "build",
                "--quiet",
                "--build-arg",
                f"BASE={image.parent}",
                "--label",
                f"{HASH_LABEL}={wanted}",
                "--tag",
                image.tag,
                str(context),
            ],
            timeout=3600,
        )
    return True


def ensure_machine_images() -> list[str]:
    """Build the base, systemd, bastion and VM images when missing or stale."""
    with locked(_BUILD_LOCK, "image build"):
        ensure_base()
        return [image.tag for image in machine_images() if ensure_image(image)]


def ensure_provider_image(minio: Path, toxiproxy: Path) -> str:
    """Build the provider image (it needs MinIO's and Toxiproxy's binaries) when stale;
    return its tag."""
    image = provider_image(minio, toxiproxy)
    with locked(_BUILD_LOCK, "image build"):
        ensure_image(image)
    return image.tag
