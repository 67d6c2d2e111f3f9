"""Key files: 0600 creation, overwrite protection, legacy layouts and clear errors."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ipv8.keyvault.crypto import InvalidKeyError, default_eccrypto
from ipv8.keyvault.exceptions import InvalidKeyFileError, KeyFileExistsError
from ipv8.keyvault.keyfile import (KEY_FILE_MODE, insecure_mode, load_or_generate_private_key, load_private_key,
                                  save_private_key)

from .vectors import CURVE25519_PRIVATE

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX-specific")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask():
    """Run with umask 0 so that only the mode passed at creation can make a file private."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    key = default_eccrypto.generate_key("curve25519")
    path = tmp_path / "ec.pem"
    save_private_key(key, path)
    assert path.read_bytes() == key.key_to_bin()
    loaded = load_private_key(path)
    assert loaded == key
    assert load_private_key(str(path)).key_to_hash() == key.key_to_hash()


@posix_only
def test_new_key_files_are_created_0600(tmp_path: Path, permissive_umask: None,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_chmod(*args: object, **kwargs: object) -> None:
        raise AssertionError("key files must be created private, not chmod-ed afterwards")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod, raising=False)
    path = tmp_path / "key.bin"
    save_private_key(default_eccrypto.generate_key("curve25519"), path)
    assert KEY_FILE_MODE == 0o600
    assert _mode(path) == 0o600


def test_refuses_to_overwrite_by_default(tmp_path: Path) -> None:
    path = tmp_path / "key.bin"
    path.write_bytes(b"precious")
    with pytest.raises(KeyFileExistsError, match="overwrite=True") as caught:
        save_private_key(default_eccrypto.generate_key("curve25519"), path)
    assert isinstance(caught.value, FileExistsError)
    assert caught.value.path == str(path)
    assert path.read_bytes() == b"precious"


@posix_only
def test_refuses_to_follow_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    link = tmp_path / "key.bin"
    link.symlink_to(victim)  # dangling: O_EXCL must still refuse rather than create the target
    with pytest.raises(KeyFileExistsError):
        save_private_key(default_eccrypto.generate_key("curve25519"), link)
    assert not victim.exists()


@posix_only
def test_overwrite_replaces_content_and_tightens_mode(tmp_path: Path, permissive_umask: None) -> None:
    path = tmp_path / "key.bin"
    path.write_bytes(b"old")
    path.chmod(0o644)
    key = default_eccrypto.generate_key("curve25519")
    save_private_key(key, path, overwrite=True)
    assert path.read_bytes() == key.key_to_bin()
    assert _mode(path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.bin"]  # no temporary file left over


def test_overwrite_also_creates_missing_files(tmp_path: Path) -> None:
    key = default_eccrypto.generate_key("curve25519")
    save_private_key(key, tmp_path / "fresh.bin", overwrite=True)
    assert load_private_key(tmp_path / "fresh.bin") == key


def test_public_keys_are_not_saved(tmp_path: Path) -> None:
    path = tmp_path / "key.bin"
    with pytest.raises(TypeError, match="only private keys"):
        save_private_key(default_eccrypto.generate_key("curve25519").pub(), path)  # type: ignore[arg-type]
    assert not path.exists()


def test_missing_directory_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        save_private_key(default_eccrypto.generate_key("curve25519"), tmp_path / "nope" / "key.bin")


@pytest.mark.parametrize("content", [b"", b"garbage", CURVE25519_PRIVATE[:-1], CURVE25519_PRIVATE + b"\n",
                                     b"-----BEGIN EC PRIVATE KEY-----\n!!!\n-----END EC PRIVATE KEY-----\n"])
def test_bad_key_file_names_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.key"
    path.write_bytes(content)
    with pytest.raises(InvalidKeyFileError) as caught:
        load_private_key(path)
    assert str(path) in str(caught.value)
    assert caught.value.path == str(path)
    assert isinstance(caught.value, InvalidKeyError)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_private_key(tmp_path / "absent.key")


def test_bare_libnacl_key_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.key"
    path.write_bytes(CURVE25519_PRIVATE[len(b"LibNaCLSK:"):])  # very old files lack the prefix
    assert load_private_key(path).key_to_bin() == CURVE25519_PRIVATE


def test_load_or_generate(tmp_path: Path) -> None:
    path = tmp_path / "identity.key"
    created = load_or_generate_private_key(path)
    assert path.exists() and created.curve_name() == "curve25519"
    if os.name == "posix":
        assert _mode(path) == 0o600
    assert load_or_generate_private_key(path) == created


def test_load_or_generate_never_replaces_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "identity.key"
    path.write_bytes(b"not a key")
    with pytest.raises(InvalidKeyFileError, match="identity.key"):
        load_or_generate_private_key(path)
    assert path.read_bytes() == b"not a key"


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o606])
def test_loading_a_key_others_can_access_warns(tmp_path: Path, mode: int, caplog: pytest.LogCaptureFixture) -> None:
    key = default_eccrypto.generate_key("curve25519")
    path = tmp_path / "ec.pem"
    save_private_key(key, path)
    path.chmod(mode)
    assert insecure_mode(path) == mode
    with caplog.at_level("WARNING", logger="ipv8.keyvault.keyfile"):
        assert load_private_key(path) == key  # still loaded: refusing is the application's decision
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == [f"The private key file {path} is accessible by other users (mode {mode:04o}): "
                        "run chmod 600 on it"]


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_private_key_files_load_silently(tmp_path: Path, mode: int, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ec.pem"
    save_private_key(default_eccrypto.generate_key("curve25519"), path)
    path.chmod(mode)
    assert insecure_mode(path) is None
    with caplog.at_level("DEBUG", logger="ipv8.keyvault.keyfile"):
        load_private_key(path)
    assert not [record for record in caplog.records if record.name == "ipv8.keyvault.keyfile"]
