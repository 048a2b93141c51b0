"""Generated secrets: random, referenced, never in the committed manifests."""

from __future__ import annotations

import json

import pytest

from archconform.errors import ManifestError
from archconform.secrets import ANNOTATION, generate, materialize


def secret(templates) -> dict:
    raw = templates if isinstance(templates, str) else json.dumps(templates)
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "app",
                                                               "annotations": {ANNOTATION: raw}}}


def test_random_values_have_the_length_and_differ_between_runs():
    a = generate({"password": "random:24"})["password"]
    b = generate({"password": "random:24"})["password"]
    assert len(a) == 24 and a.isalnum()
    assert a != b


def test_references_embed_the_generated_value():
    values = generate({"password": "random:16", "url": "postgresql://app:${password}@postgres:5432/app"})
    assert values["url"] == f"postgresql://app:{values['password']}@postgres:5432/app"


def test_reference_to_an_unknown_key_names_the_secret():
    with pytest.raises(ManifestError, match=r"Secret/app/db.*\$\{nope\}"):
        materialize([secret({"url": "x://${nope}"})])


def test_bad_annotation_is_a_one_line_manifest_error():
    with pytest.raises(ManifestError, match="Secret/app/db: annotation archconform.io/generate is not JSON"):
        materialize([secret("{not json")])


def test_materialize_fills_string_data_and_leaves_the_input_untouched():
    original = secret({"password": "random:8"})
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    out = materialize([original, other])
    assert "stringData" not in original
    assert len(out[0]["stringData"]["password"]) == 8
    assert out[1] is other


def test_values_already_in_the_cluster_are_kept():
    import base64

    from archconform.secrets import decoded_data

    live = {"data": {"password": base64.b64encode(b"s3cr3t-already").decode(),
                     "url": base64.b64encode(b"postgresql://app:s3cr3t-already@db/app").decode()}}
    obj = secret({"password": "random:16", "url": "postgresql://app:${password}@db/app"})
    out = materialize([obj], existing=lambda o: decoded_data(live))
    assert out[0]["stringData"] == {"password": "s3cr3t-already", "url": "postgresql://app:s3cr3t-already@db/app"}
    partial = materialize([obj], existing=lambda o: {"password": "only-one-key"})
    assert partial[0]["stringData"]["password"] != "only-one-key"   # incomplete: regenerate all


def test_only_generated_values_are_redacted_never_the_literal_ones():
    """A literal template value is committed in the manifests: masking it would blank that word
    everywhere (on a live run, "username": "tbyte" turned the system tbyte into *** in its own
    sign-off). The password and the URL that embeds it are masked."""
    from archconform.report.redact import redact

    out = materialize([secret({"username": "tbyte", "password": "random:12",
                               "url": "postgresql://tbyte:${password}@postgres.tbyte.svc:5432/tbyte"})])
    values = out[0]["stringData"]
    assert redact("system tbyte, user tbyte") == "system tbyte, user tbyte"
    assert values["password"] not in redact(f"the password is {values['password']}")
    assert values["url"] not in redact(f"DATABASE_URL={values['url']}")
