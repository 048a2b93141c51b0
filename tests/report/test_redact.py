"""redact(): each kind of secret, the shapes it is printed in, and what must survive."""

from __future__ import annotations

import base64
import json
import logging

import pytest
import yaml

from archconform.report.redact import (MASK, RedactingFilter, clear_registered_secrets,
                                       install_log_redaction, redact, redact_file, redact_obj,
                                       redact_tree, register_secret, registered_secrets,
                                       uninstall_log_redaction)


@pytest.fixture(autouse=True)
def _fresh_registry():
    clear_registered_secrets()
    yield
    clear_registered_secrets()


SECRET_YAML = """\
apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  namespace: storage-system
  annotations:
    owner: platform-team
type: Opaque
data:
  password: aHVudGVyMi1zZWNyZXQ=
  tls.key: |
    LS0tLS1CRUdJTi
    BQUlWQVRF
stringData:
  url: postgres://app:hunter2-secret@db:5432/app
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  LOG_LEVEL: debug
"""


def test_secret_manifest_yaml_values_masked_keys_and_other_documents_kept():
    out = redact(SECRET_YAML)
    assert "aHVudGVyMi1zZWNyZXQ=" not in out and "LS0tLS1CRUdJTi" not in out and "BQUlWQVRF" not in out
    assert "hunter2-secret" not in out
    assert '  password: "***"' in out and '  tls.key: "***"' in out and '  url: "***"' in out
    # what is not secret stays readable
    assert "owner: platform-team" in out and "name: db-credentials" in out
    assert "LOG_LEVEL: debug" in out
    # still YAML with the same keys
    docs = list(yaml.safe_load_all(out))
    assert set(docs[0]["data"]) == {"password", "tls.key"}
    assert docs[1]["data"] == {"LOG_LEVEL": "debug"}


def test_secret_manifest_json_and_python_repr():
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"},
           "data": {"token": "c2VjcmV0LXRva2Vu", "user": "YWRtaW4="}}
    as_json = redact(json.dumps(obj))
    assert "c2VjcmV0LXRva2Vu" not in as_json and "YWRtaW4=" not in as_json
    assert json.loads(as_json)["metadata"] == {"name": "x"}
    as_repr = redact(f"unexpected object: {obj!r}")
    assert "c2VjcmV0LXRva2Vu" not in as_repr and "YWRtaW4=" not in as_repr
    assert "'name': 'x'" in as_repr


def test_configmap_alone_is_not_touched():
    text = "kind: ConfigMap\nmetadata: {name: cm}\ndata:\n  A: b\n"
    assert redact(text) == text


@pytest.mark.parametrize("url,expected", [
    ("postgresql://app:s3cr3t@db.storage-system:5432/app", "postgresql://app:***@db.storage-system:5432/app"),
    ("redis://:pa55word@redis:6379/0", "redis://:***@redis:6379/0"),
    ("https://user:tok%40en@registry.example/v2/", "https://user:***@registry.example/v2/"),
    ("amqp://guest:guest@rabbit:5672", "amqp://guest:***@rabbit:5672"),
])
def test_passwords_in_urls(url, expected):
    assert redact(f"connecting to {url} now") == f"connecting to {expected} now"


def test_url_without_password_unchanged():
    text = "GET https://api.example/v1/items?page=2 and http://127.0.0.1:8080/healthz"
    assert redact(text) == text


@pytest.mark.parametrize("text,leak", [
    ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
    ("authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ('{"headers": {"Authorization": "Bearer tok123456"}}', "tok123456"),
    ("curl -H 'Authorization: Bearer xyz987654' http://127.0.0.1", "xyz987654"),
    ("sent bearer ya29.a0AfH6SMB-token", "ya29.a0AfH6SMB-token"),
    ("Proxy-Authorization: Basic Zm9vOmJhcg==", "Zm9vOmJhcg=="),
])
def test_bearer_tokens_and_authorization_headers(text, leak):
    out = redact(text)
    assert leak not in out
    assert MASK in out


def test_json_web_token_anywhere():
    jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.eyJpc3MiOiJrdWJlcm5ldGVzIn0.c2lnbmF0dXJl"
    assert jwt not in redact(f"service account token is {jwt}")


KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: kind-archconform
  cluster:
    certificate-authority-data: LS0tQ0EtREFUQQ==
    server: https://127.0.0.1:6443
users:
- name: admin
  user:
    client-certificate-data: LS0tQ0VSVC1EQVRB
    client-key-data: LS0tS0VZLURBVEE=
- name: token-user
  user:
    token: sha256~abcdefghijklmnop
- name: basic
  user:
    username: admin
    password: "p@ss w0rd"
"""


def test_kubeconfig_credentials():
    out = redact(KUBECONFIG)
    for leak in ("LS0tQ0VSVC1EQVRB", "LS0tS0VZLURBVEE=", "sha256~abcdefghijklmnop", "p@ss w0rd"):
        assert leak not in out
    # the server and the CA (public) stay
    assert "server: https://127.0.0.1:6443" in out and "LS0tQ0EtREFUQQ==" in out
    assert "username: admin" in out
    assert yaml.safe_load(out)["users"][2]["user"]["password"] == MASK


def test_kubeconfig_as_object():
    cfg = yaml.safe_load(KUBECONFIG)
    out = redact_obj(cfg)
    assert out["users"][0]["user"]["client-key-data"] == MASK
    assert out["users"][1]["user"]["token"] == MASK
    assert out["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert cfg["users"][1]["user"]["token"] == "sha256~abcdefghijklmnop", "the input is not modified"


def test_connection_string_key_values():
    out = redact("host=db port=5432 user=app password=hunter2 sslmode=require")
    assert "hunter2" not in out and "password=***" in out and "sslmode=require" in out


def test_private_key_blocks():
    pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBL\nAwEHoUQDQgAE\n-----END EC PRIVATE KEY-----"
    out = redact(f"key:\n{pem}\n")
    assert "MHcCAQEEIBL" not in out and "BEGIN EC PRIVATE KEY" in out


def test_words_that_only_look_like_keys_are_kept():
    text = "tokenizer: fine; resourceVersion: 5; passwordPolicy enforced; kind: TokenReview"
    assert redact(text) == text


def test_registered_value_in_every_printed_form():
    value = "Gen3rated/Value+with&odd<chars>"
    register_secret(value)
    forms = [
        value,
        base64.b64encode(value.encode()).decode(),
        "Gen3rated%2FValue%2Bwith%26odd%3Cchars%3E",
        "Gen3rated/Value+with&amp;odd&lt;chars&gt;",
        json.dumps({"v": value})[7:-2],
    ]
    for form in forms:
        out = redact(f"before {form} after")
        assert form not in out, form
        assert out.startswith("before ") and out.endswith(" after")


def test_short_values_are_not_registered():
    register_secret("ab")
    assert redact("ab cab abc") == "ab cab abc"
    assert registered_secrets() == []


def test_bytes_and_objects_are_accepted():
    register_secret("bytes-secret-1")
    assert redact(b"x bytes-secret-1 y") == "x *** y"
    assert redact(None) == ""
    assert "bytes-secret-1" not in redact(["bytes-secret-1"])


def test_log_filter_on_root_and_on_child_loggers(caplog):
    import sys

    state = sys.modules["archconform.report.redact"]
    already = state._installed is not None  # the plugin installed it for this very session
    register_secret("log-secret-value-42")
    install_log_redaction()
    try:
        with caplog.at_level(logging.INFO):
            logging.getLogger().warning("root: %s", "log-secret-value-42")
            logging.getLogger("archconform.kube.deep").info(
                "connecting to %s", "postgres://u:log-secret-value-42@db:5432/x")
            try:
                raise RuntimeError("boom with log-secret-value-42")
            except RuntimeError:
                logging.getLogger("archconform.other").exception("failed")
        text = caplog.text
        assert "log-secret-value-42" not in text
        assert "root: ***" in text and "postgres://u:***@db:5432/x" in text
        assert "RuntimeError: boom with ***" in text
    finally:
        if not already:
            uninstall_log_redaction()
    if not already:
        assert not any(isinstance(f, RedactingFilter) for f in logging.getLogger().filters)


def test_redacting_filter_alone():
    register_secret("filter-only-secret")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "value %s", ("filter-only-secret",), None)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "value ***"


def test_redact_tree_keeps_json_valid_and_skips_png(tmp_path):
    register_secret("tree-secret-0001")
    (tmp_path / "a-result.json").write_text(json.dumps({"name": "x", "statusDetails": {
        "message": "url postgres://u:tree-secret-0001@h/db"}, "parameters": [{"name": "p", "value": "tree-secret-0001"}]}))
    (tmp_path / "b-attachment.json").write_text(json.dumps({"kind": "Secret", "data": {"k": "dmFs"}}))
    (tmp_path / "c-attachment.txt").write_text("line tree-secret-0001\n")
    png = b"\x89PNG\r\n\x1a\n" + b"tree-secret-0001"  # binary files are never rewritten
    (tmp_path / "d-attachment.png").write_bytes(png)
    changed = redact_tree(tmp_path)
    assert len(changed) == 3
    result = json.loads((tmp_path / "a-result.json").read_text())
    assert result["parameters"][0]["value"] == MASK
    assert "tree-secret-0001" not in result["statusDetails"]["message"]
    assert json.loads((tmp_path / "b-attachment.json").read_text())["data"] == {"k": MASK}
    assert (tmp_path / "c-attachment.txt").read_text() == "line ***\n"
    assert (tmp_path / "d-attachment.png").read_bytes() == png
    assert redact_file(tmp_path / "c-attachment.txt") is False, "idempotent"
